import Cluster
import TestSupport
import XCTest

/// Cluster's collectives: a single process (no mpirun) is rank 0 of 1 and never touches MPI;
/// under `mpirun -np 2` and `-np 3` (cluster_check) every collective gives the sums, ranges,
/// gathers and broadcasts it must, and one failing rank ends the whole job with its message.
final class ClusterTests: XCTestCase {
    func testWithoutMPIRunItIsOneProcessThatUsesNoMPI() {
        XCTAssertFalse(Cluster.launchedByMPI(["PATH": "/usr/bin"]))
        XCTAssertTrue(Cluster.launchedByMPI(["OMPI_COMM_WORLD_SIZE": "2"]))
        let world = Cluster.world   // the test process is not under mpirun
        XCTAssertEqual(world.rank, 0)
        XCTAssertEqual(world.size, 1)
        XCTAssertFalse(world.usesMPI)
        XCTAssertTrue(world.isRoot)
        var values: [Float] = [1.5, -2]
        values.withUnsafeMutableBufferPointer { world.allreduceSum($0) }
        XCTAssertEqual(values, [1.5, -2])
        XCTAssertEqual(world.gather([1, 2, 3]), [[1, 2, 3]])
        XCTAssertEqual(world.broadcast([7]), [7])
        XCTAssertEqual(world.broadcast(floats: [0.5]), [0.5])
        XCTAssertEqual(world.allreduceRange(5).min, 5)
    }

    func testThreadShareIsAtLeastOneAndAtMostTheCPUs() {
        let share = Cluster.world.threadShare()
        XCTAssertGreaterThanOrEqual(share.threads, 1)
        XCTAssertLessThanOrEqual(share.threads, ProcessInfo.processInfo.activeProcessorCount)
        XCTAssertFalse(share.reason.isEmpty)
    }

    func testCollectivesUnderMPIRun() throws {
        for n in [2, 3] {
            let r = try ProcessRun.mpi(ranks: n, "cluster_check", [], timeout: 60)
            XCTAssertFalse(r.timedOut, "np \(n) hung")
            XCTAssertEqual(r.status, 0, "np \(n): \(r.stderr)")
            let lines = r.stdout.split(separator: "\n").map(String.init)
            // mpirun forwards each rank's output as it comes: the last rank's line may come first.
            XCTAssertTrue(lines.contains("size \(n) usesMPI true"), r.stdout)
            // sum over ranks r = 0 ..< n of (r + 1 + i/8) = n(n+1)/2 + n*i/8
            let expected = (0..<10).map { Float(n * (n + 1) / 2) + Float(n) * Float($0) / 8 }
            XCTAssertTrue(lines.contains("allreduce " + expected.map { "\($0)" }.joined(separator: ",")), r.stdout)
            let tri = Float(n * (n + 1) / 2)
            XCTAssertTrue(lines.contains("iallreduce \(tri) \(tri) \(10 * tri) \(10 * tri)"), r.stdout)
            let ranks = Double((0..<n).reduce(0, +))
            XCTAssertTrue(lines.contains("sums \(ranks) \(0.5 * Double(n)) \(Int64((0..<n).reduce(0, +)) * 1_000_000_000_000) \(n)"), r.stdout)
            XCTAssertTrue(lines.contains("range 100 \(100 + n - 1)"), r.stdout)
            let gathered = (0..<n).map { rank in [String](repeating: String(rank), count: rank).joined(separator: ".") }.joined(separator: "|")
            XCTAssertTrue(lines.contains("gather " + gathered), r.stdout)
            XCTAssertTrue(lines.contains("broadcast-last from root"), r.stdout)
            XCTAssertTrue(lines.contains("broadcast-floats-last 1.5,-2.0,3e-08"), r.stdout)
        }
    }

    func testOneFailingRankEndsTheJobWithItsMessage() throws {
        let r = try ProcessRun.mpi(ranks: 2, "cluster_check", ["abort"], timeout: 60)
        XCTAssertFalse(r.timedOut, "the job hung instead of aborting")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("cluster_check: rank 1 of 2: cannot read /data/x.jpg: no such file"), r.stderr)
        XCTAssertFalse(r.stdout.contains("not aborted"), r.stdout)
    }

    func testPacketsReadBackWhatWasWrittenAndStopAtTheirEnd() {
        var packet = Packet()
        packet.append(Int64(-3)); packet.append(UInt8(7)); packet.append(floats: [1.5, -0.0]); packet.append(bytes: [9, 8])
        XCTAssertEqual(packet.bytes.count, 8 + 1 + 8 + 2)
        var reader = PacketReader(packet.bytes)
        XCTAssertEqual(reader.read(Int64.self), -3)
        XCTAssertEqual(reader.read(UInt8.self), 7)
        XCTAssertEqual(reader.readFloats(count: 2)?.map(\.bitPattern), [Float(1.5), -0.0].map(\.bitPattern))
        XCTAssertNil(reader.readBytes(count: 3), "only 2 bytes are left")
        XCTAssertEqual(reader.readBytes(count: 2).map(Array.init), [9, 8])
        XCTAssertTrue(reader.isAtEnd)
        XCTAssertNil(reader.read(UInt32.self))
    }
}
