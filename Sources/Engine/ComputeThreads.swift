import CDNNL
import Dispatch

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

    /// Runs `body` over `0..<n` in contiguous chunks, one per compute thread (the cores oneDNN
    /// uses, idle between primitives), each at least `minimumPerChunk` long; on this thread
    /// when there is one chunk. `body` must not depend on the split.
    public static func forEachChunk(of n: Int, minimumPerChunk: Int, _ body: (Range<Int>) -> Void) {
        let chunks = max(1, min(current, n / max(1, minimumPerChunk)))
        if chunks == 1 { return body(0..<n) }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                body((n * c / chunks)..<(n * (c + 1) / chunks))
            }
        }
    }
}
