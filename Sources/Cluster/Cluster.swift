import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// The processes of one job and the few collectives Graft uses, over Open MPI.
///
/// `Cluster.world` is this process's view. Started by `mpirun` (Open MPI's launcher sets
/// `OMPI_COMM_WORLD_SIZE`), it initialises MPI and has the job's rank and size; started any other
/// way it is a single process of rank 0 that never touches MPI, so every command behaves exactly
/// as without MPI. Every collective is then the identity.
///
/// MPI calls come from one thread at a time (MPI_THREAD_FUNNELED: the thread that runs the
/// training loop or the prediction loop). Open MPI advances a started reduction only inside MPI
/// calls, so whoever overlaps one with computation calls `PendingReduction.test()` now and then.
///
/// `@unchecked Sendable`: its fields never change after `init`, and the one-thread rule above is
/// the callers' to keep.
public final class Cluster: @unchecked Sendable {
    /// This process's rank in the job, 0 ..< size.
    public let rank: Int
    /// The number of processes in the job.
    public let size: Int
    /// This process's rank among the job's processes on this machine, and their number.
    public let localRank: Int
    public let localSize: Int
    /// Whether MPI was initialised (the process was started by mpirun).
    public let usesMPI: Bool

    /// Rank 0: the one that prints progress and writes files.
    public var isRoot: Bool { rank == 0 }
    /// More than one process.
    public var isDistributed: Bool { size > 1 }

    /// This process's view of the job (initialises MPI on first use when started by mpirun).
    public static let world = Cluster(environment: Cluster.processEnvironment())

    /// Whether the environment says an MPI launcher started this process.
    public static func launchedByMPI(_ environment: [String: String]) -> Bool {
        environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    /// A single process of rank 0 that uses no MPI (what commands see without mpirun).
    public static let single = Cluster(singleProcess: ())

    private init(singleProcess: Void) {
        rank = 0; size = 1; localRank = 0; localSize = 1; usesMPI = false
    }

    private init(environment: [String: String]) {
        guard Cluster.launchedByMPI(environment) else {
            rank = 0; size = 1; localRank = 0; localSize = 1; usesMPI = false
            return
        }
        var provided: Int32 = 0
        let status = MPI_Init_thread(nil, nil, Int32(graft_mpi_thread_funneled()), &provided)
        if status != graft_mpi_success() {
            Cluster.writeError("graft: MPI_Init_thread failed (error \(status)); is this Open MPI's mpirun?")
            exit(1)
        }
        let world = graft_mpi_comm_world()
        var r: Int32 = 0, n: Int32 = 0
        MPI_Comm_rank(world, &r)
        MPI_Comm_size(world, &n)
        var local: MPI_Comm? = graft_mpi_comm_null()
        MPI_Comm_split_type(world, graft_mpi_comm_type_shared(), r, graft_mpi_info_null(), &local)
        var lr: Int32 = 0, ln: Int32 = 1
        if let comm = local, comm != graft_mpi_comm_null() {
            MPI_Comm_rank(comm, &lr)
            MPI_Comm_size(comm, &ln)
            MPI_Comm_free(&local)
        }
        rank = Int(r); size = Int(n); localRank = Int(lr); localSize = Int(ln); usesMPI = true
    }

    private static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        for key in ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK"] {
            if let v = getenv(key) { result[key] = String(cString: v) }
        }
        return result
    }

    static func writeError(_ line: String) {
        let text = line.hasSuffix("\n") ? line : line + "\n"
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes = bytes.dropFirst(n)
        }
    }

    // MARK: - Collectives (each is the identity for a single process)

    /// Sums `values` over all ranks, in place.
    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) {
        guard usesMPI, size > 1, let base = values.baseAddress else { return }
        forEachChunk(values.count) { offset, count in
            check(MPI_Allreduce(graft_mpi_in_place(), base + offset, count, graft_mpi_float(), graft_mpi_sum(), graft_mpi_comm_world()), "MPI_Allreduce")
        }
    }

    /// Sums `values` over all ranks, in place.
    public func allreduceSum(_ values: inout [Double]) {
        guard usesMPI, size > 1, !values.isEmpty else { return }
        values.withUnsafeMutableBufferPointer { buf in
            forEachChunk(buf.count) { offset, count in
                check(MPI_Allreduce(graft_mpi_in_place(), buf.baseAddress! + offset, count, graft_mpi_double(), graft_mpi_sum(), graft_mpi_comm_world()), "MPI_Allreduce")
            }
        }
    }

    /// Sums `values` over all ranks, in place.
    public func allreduceSum(_ values: inout [Int64]) {
        guard usesMPI, size > 1, !values.isEmpty else { return }
        values.withUnsafeMutableBufferPointer { buf in
            check(MPI_Allreduce(graft_mpi_in_place(), buf.baseAddress!, Int32(buf.count), graft_mpi_int64(), graft_mpi_sum(), graft_mpi_comm_world()), "MPI_Allreduce")
        }
    }

    /// The largest and the smallest of `value` over all ranks.
    public func allreduceRange(_ value: UInt64) -> (min: UInt64, max: UInt64) {
        guard usesMPI, size > 1 else { return (value, value) }
        var lo = value, hi = value
        check(MPI_Allreduce(graft_mpi_in_place(), &lo, 1, graft_mpi_uint64(), graft_mpi_min(), graft_mpi_comm_world()), "MPI_Allreduce")
        check(MPI_Allreduce(graft_mpi_in_place(), &hi, 1, graft_mpi_uint64(), graft_mpi_max(), graft_mpi_comm_world()), "MPI_Allreduce")
        return (lo, hi)
    }

    /// Starts summing `values` over all ranks, in place (MPI_Iallreduce). The memory must stay
    /// valid and untouched until the returned reduction's `wait()` returns.
    public func startAllreduceSum(_ values: UnsafeMutableBufferPointer<Float>) -> PendingReduction {
        guard usesMPI, size > 1, let base = values.baseAddress, values.count > 0 else { return PendingReduction(requests: []) }
        var requests: [MPI_Request?] = []
        forEachChunk(values.count) { offset, count in
            var request: MPI_Request? = graft_mpi_request_null()
            check(MPI_Iallreduce(graft_mpi_in_place(), base + offset, count, graft_mpi_float(), graft_mpi_sum(), graft_mpi_comm_world(), &request), "MPI_Iallreduce")
            requests.append(request)
        }
        return PendingReduction(requests: requests)
    }

    /// Every rank's `bytes`, in rank order, at `root`; an empty array elsewhere.
    public func gather(_ bytes: [UInt8], root: Int = 0) -> [[UInt8]] {
        guard usesMPI, size > 1 else { return [bytes] }
        var count = Int32(clamping: bytes.count)
        if bytes.count > Int(Int32.max) { abort("cannot gather \(bytes.count) bytes from one rank (MPI counts are 32-bit)") }
        var counts = [Int32](repeating: 0, count: rank == root ? size : 1)
        check(MPI_Gather(&count, 1, intType, &counts, 1, intType, Int32(root), graft_mpi_comm_world()), "MPI_Gather")
        var displacements = [Int32](repeating: 0, count: counts.count)
        var total = 0
        if rank == root {
            for i in 0..<size {
                if total > Int(Int32.max) { abort("cannot gather more than 2 GiB at one rank (MPI counts are 32-bit)") }
                displacements[i] = Int32(total); total += Int(counts[i])
            }
        }
        var all = [UInt8](repeating: 0, count: max(total, 1))
        bytes.withUnsafeBufferPointer { send in
            check(MPI_Gatherv(send.baseAddress, count, graft_mpi_byte(), &all, counts, displacements, graft_mpi_byte(), Int32(root), graft_mpi_comm_world()), "MPI_Gatherv")
        }
        guard rank == root else { return [] }
        return (0..<size).map { i in Array(all[Int(displacements[i]) ..< Int(displacements[i]) + Int(counts[i])]) }
    }

    /// `bytes` from `root`, on every rank.
    public func broadcast(_ bytes: [UInt8], root: Int = 0) -> [UInt8] {
        guard usesMPI, size > 1 else { return bytes }
        var count = Int64(bytes.count)
        check(MPI_Bcast(&count, 1, graft_mpi_int64(), Int32(root), graft_mpi_comm_world()), "MPI_Bcast")
        var data = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count))
        if data.isEmpty { return data }
        forEachChunk(data.count) { offset, n in
            data.withUnsafeMutableBufferPointer { buf in
                check(MPI_Bcast(buf.baseAddress! + offset, n, graft_mpi_byte(), Int32(root), graft_mpi_comm_world()), "MPI_Bcast")
            }
        }
        return data
    }

    /// `values` from `root`, on every rank.
    public func broadcast(floats values: [Float], root: Int = 0) -> [Float] {
        guard usesMPI, size > 1 else { return values }
        var count = Int64(values.count)
        check(MPI_Bcast(&count, 1, graft_mpi_int64(), Int32(root), graft_mpi_comm_world()), "MPI_Bcast")
        var data = rank == root ? values : [Float](repeating: 0, count: Int(count))
        data.withUnsafeMutableBufferPointer { buf in
            forEachChunk(buf.count) { offset, n in
                check(MPI_Bcast(buf.baseAddress! + offset, n, graft_mpi_float(), Int32(root), graft_mpi_comm_world()), "MPI_Bcast")
            }
        }
        return data
    }

    /// Waits until every rank gets here.
    public func barrier() {
        guard usesMPI, size > 1 else { return }
        check(MPI_Barrier(graft_mpi_comm_world()), "MPI_Barrier")
    }

    /// Stops the whole job: prints `<tool>: rank R of N: message` (`<tool>: message` for a
    /// single process), then MPI_Abort, which ends every rank: never a hang. A single process
    /// just exits.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        let tool = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "graft") } ?? "graft"
        let prefix = isDistributed ? "\(tool): rank \(rank) of \(size): " : "\(tool): "
        Cluster.writeError(prefix + message)
        if usesMPI && size > 1 { MPI_Abort(graft_mpi_comm_world(), code) }
        exit(code)
    }

    /// Ends MPI (call once, at the end of a successful run; after it no collective may run).
    public func finalize() {
        guard usesMPI else { return }
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    // MARK: - Threads

    /// The CPUs this process may run on (its affinity mask: mpirun's binding, taskset, cgroups).
    public static func allowedCPUs() -> Int { Int(graft_affinity_cpus()) }

    /// How many compute threads this rank should use: the CPUs its binding allows when the
    /// launcher bound it to fewer than the machine's, else the machine's CPUs shared among the
    /// ranks on this machine. With the reason, for the one line that reports it.
    public func threadShare() -> (threads: Int, reason: String) {
        let online = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let allowed = Cluster.allowedCPUs()
        if allowed > 0 && allowed < online {
            return (allowed, "bound by the launcher to \(allowed) of \(online) CPUs")
        }
        let share = max(1, online / max(1, localSize))
        return (share, "\(online) CPUs shared by \(localSize) rank\(localSize == 1 ? "" : "s") on this machine")
    }

    // MARK: - Internals

    private var intType: MPI_Datatype? { graft_mpi_int32() }

    private func check(_ status: Int32, _ call: String) {
        if status != graft_mpi_success() { abort("\(call) failed (MPI error \(status))") }
    }

    /// Splits `count` elements into MPI's 32-bit counts.
    private func forEachChunk(_ count: Int, _ body: (Int, Int32) -> Void) {
        let chunk = 1 << 30
        var offset = 0
        while offset < count {
            let n = min(chunk, count - offset)
            body(offset, Int32(n))
            offset += n
        }
    }
}

/// A reduction started by `Cluster.startAllreduceSum`.
public struct PendingReduction {
    var requests: [MPI_Request?]

    /// Whether it has finished (also lets Open MPI advance it; call it between pieces of work).
    public mutating func test() -> Bool {
        var done = true
        for i in requests.indices where requests[i] != graft_mpi_request_null() {
            var flag: Int32 = 0
            MPI_Test(&requests[i], &flag, graft_mpi_status_ignore())
            if flag == 0 { done = false }
        }
        return done
    }

    /// Waits until it has finished.
    public mutating func wait() {
        for i in requests.indices where requests[i] != graft_mpi_request_null() {
            MPI_Wait(&requests[i], graft_mpi_status_ignore())
        }
    }
}
