#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

// Debian's oneDNN runs on GNU OpenMP (libgomp): its thread count is OpenMP's.
extern void omp_set_num_threads(int);
extern int omp_get_max_threads(void);
