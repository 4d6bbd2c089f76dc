import Cluster
import Engine
import Foundation

/// How a command joins its job. Under `mpirun -np N` each rank gets its share of the cores for
/// oneDNN and for decoding (the launcher's binding, or the machine's CPUs ÷ the ranks on it),
/// and rank 0 prints that choice once. Without mpirun nothing changes: no MPI, every core.
public enum ClusterLaunch {
    /// Joins the job (initialises MPI when started by mpirun) and sets this rank's threads.
    /// Returns the job and the number of threads decoders should use (nil: as without MPI).
    @discardableResult
    public static func start() -> (cluster: Cluster, decodeThreads: Int?) {
        let cluster = Cluster.world
        guard cluster.usesMPI else { return (cluster, nil) }
        let share = cluster.threadShare()
        ComputeThreads.set(share.threads)
        if cluster.isRoot {
            warn("\(cluster.size) process\(cluster.size == 1 ? "" : "es"), \(share.threads) thread\(share.threads == 1 ? "" : "s") each (\(share.reason))")
        }
        return (cluster, share.threads)
    }
}
