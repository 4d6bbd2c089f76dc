// Run by ClusterTests under `mpirun -np N`: exercises each collective of Cluster and prints,
// from rank 0 only, one line per check ("name value"), which the tests compare with what the
// collectives must give. `cluster_check abort` makes the last rank abort while the others wait
// in a barrier: the job must end with that rank's message, never hang.
import Cluster
#if canImport(Glibc)
import Glibc
#endif

let cluster = Cluster.world
let args = CommandLine.arguments.dropFirst()
if args.first == "abort" {
    if cluster.rank == cluster.size - 1 { cluster.abort("cannot read /data/x.jpg: no such file", code: 3) }
    cluster.barrier()
    print("not aborted")
    cluster.finalize()
    exit(0)
}

func out(_ line: String) { if cluster.isRoot { print(line) } }
out("size \(cluster.size) usesMPI \(cluster.usesMPI)")

// allreduce over floats: rank r contributes r + 1 + i/8 at index i.
var floats = (0..<10).map { Float(cluster.rank + 1) + Float($0) / 8 }
floats.withUnsafeMutableBufferPointer { cluster.allreduceSum($0) }
out("allreduce " + floats.map { "\($0)" }.joined(separator: ","))

// Started reductions: two buffers in flight at once, tested then waited for.
var a = [Float](repeating: Float(cluster.rank + 1), count: 100_000)
var b = [Float](repeating: Float(10 * (cluster.rank + 1)), count: 3)
a.withUnsafeMutableBufferPointer { pa in
    b.withUnsafeMutableBufferPointer { pb in
        var ra = cluster.startAllreduceSum(pa)
        var rb = cluster.startAllreduceSum(pb)
        _ = ra.test()
        rb.wait()
        ra.wait()
    }
}
out("iallreduce \(a[0]) \(a[99_999]) \(b[0]) \(b[2])")

var doubles = [Double(cluster.rank), 0.5]
cluster.allreduceSum(&doubles)
var ints: [Int64] = [Int64(cluster.rank) * 1_000_000_000_000, 1]
cluster.allreduceSum(&ints)
out("sums \(doubles[0]) \(doubles[1]) \(ints[0]) \(ints[1])")

let range = cluster.allreduceRange(UInt64(100 + cluster.rank))
out("range \(range.min) \(range.max)")

// gather: rank r sends r bytes of value r (rank 0 sends none).
let gathered = cluster.gather([UInt8](repeating: UInt8(cluster.rank), count: cluster.rank))
out("gather " + gathered.map { $0.map(String.init).joined(separator: ".") }.joined(separator: "|"))

let message = cluster.broadcast(cluster.isRoot ? Array("from root".utf8) : [])
if cluster.rank == cluster.size - 1 { print("broadcast-last \(String(decoding: message, as: UTF8.self))") }
let broadcastFloats = cluster.broadcast(floats: cluster.isRoot ? [1.5, -2, 3e-8] : [])
if cluster.rank == cluster.size - 1 { print("broadcast-floats-last " + broadcastFloats.map { "\($0)" }.joined(separator: ",")) }
cluster.barrier()
cluster.finalize()
