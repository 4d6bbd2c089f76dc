import CDNNL

/// The threads oneDNN computes with (Debian's oneDNN runs on OpenMP). By default OpenMP uses
/// every CPU the process may run on; several processes on one machine (ranks under mpirun) each
/// set their share so that they do not oversubscribe the cores.
public enum ComputeThreads {
    /// The number of threads the next oneDNN primitive runs with.
    public static var current: Int { Int(omp_get_max_threads()) }

    /// Sets the number of threads for every later primitive (at least 1).
    public static func set(_ count: Int) {
        omp_set_num_threads(Int32(max(1, min(count, Int(Int32.max)))))
    }
}
