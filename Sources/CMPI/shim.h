// Open MPI (Debian's libopenmpi-dev 4.1) for Swift. Open MPI's predefined handles
// (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are macros over addresses of globals, which Swift
// cannot import: these inline functions hand them over.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <mpi.h>

static inline MPI_Comm graft_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm graft_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype graft_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype graft_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype graft_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype graft_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype graft_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Datatype graft_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op graft_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op graft_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op graft_mpi_min(void) { return MPI_MIN; }
static inline MPI_Op graft_mpi_bxor(void) { return MPI_BXOR; }
static inline MPI_Request graft_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *graft_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Info graft_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline int graft_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline void *graft_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int graft_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int graft_mpi_success(void) { return MPI_SUCCESS; }
static inline MPI_Errhandler graft_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }

// The CPUs in this process's affinity mask (mpirun's binding, taskset, cgroups); 0 if unknown.
static inline int graft_affinity_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    return CPU_COUNT(&set);
}
