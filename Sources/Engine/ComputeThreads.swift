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

    /// Runs `body` over `0..<n` in contiguous chunks, one per compute thread, each at least
    /// `minimumPerChunk` long; on this thread when there is one chunk. The chunks run on
    /// OpenMP's thread team, the threads oneDNN computes on (idle between primitives; other
    /// threads would compete with them for the cores while they spin-wait for the next one).
    /// `body` must not depend on the split.
    public static func forEachChunk(of n: Int, minimumPerChunk: Int, _ body: (Range<Int>) -> Void) {
        let chunks = chunkCount(of: n, minimumPerChunk: minimumPerChunk)
        if chunks == 1 { return body(0..<n) }
        withoutActuallyEscaping(body) { body in
            var work = ParallelWork(n: n, chunks: chunks, body: body)
            withUnsafeMutablePointer(to: &work) { w in
                GOMP_parallel({ raw in
                    let work = raw!.assumingMemoryBound(to: ParallelWork.self).pointee
                    let threads = Int(omp_get_num_threads())
                    for c in stride(from: Int(omp_get_thread_num()), to: work.chunks, by: threads) {
                        work.body((work.n * c / work.chunks)..<(work.n * (c + 1) / work.chunks))
                    }
                }, w, UInt32(chunks), 0)
            }
        }
    }

    /// How many chunks `forEachChunk` splits `0..<n` into.
    public static func chunkCount(of n: Int, minimumPerChunk: Int) -> Int {
        max(1, min(current, n / max(1, minimumPerChunk)))
    }

    private struct ParallelWork {
        let n: Int, chunks: Int
        let body: (Range<Int>) -> Void
    }
}
