#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

// Debian's oneDNN runs on GNU OpenMP (libgomp): its thread count is OpenMP's.
extern void omp_set_num_threads(int);
extern int omp_get_max_threads(void);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
// libgomp's entry point for `#pragma omp parallel` (GCC's ABI since 4.9): runs fn(data) on
// every thread of a team of num_threads (0: the default), the calling thread included, and
// returns when all are done. Graft's own parallel loops run on oneDNN's thread team this way,
// instead of on other threads that would compete with it for the cores.
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
