import Cluster
import Engine
import Foundation
import Models

/// What a data-parallel run adds to metrics.json (`"distributed"`), absent for one process.
public struct DistributedSummary: Codable, Equatable, Sendable {
    public var processes: Int
    /// `--batch-size`: images per process and step; the global batch is `processes` times it.
    public var batchSizePerProcess: Int
    public var globalBatchSize: Int
    public var syncBatchNorm: Bool
    /// Float32 gradient bytes allreduced per step (the trainable parameters), in `buckets` buckets.
    public var allreduceBytesPerStep: Int
    public var buckets: Int
    /// Rank 0's figures over this process's steps: seconds waited for the reductions after
    /// backward, and seconds of communication that overlapped backward (`GradientReducer.Timing`).
    public var steps: Int
    public var allreduceWaitSeconds: Double
    public var allreduceOverlappedSeconds: Double
}

/// What `Trainer` does under mpirun, as PyTorch's DistributedDataParallel: identical weights
/// on every process (rank 0's), gradients averaged while backward runs (`GradientReducer`),
/// batch norms with per-process statistics whose running statistics rank 0 hands to the others
/// before validation (DDP's `broadcast_buffers`), or synchronised ones (`syncBatchNorm`), a
/// checksum of every replica once an epoch, and sharded validation whose figures are reduced.
/// For one process every function here is the identity.
extension Trainer {
    /// Copies rank 0's weights and running statistics to every process (after loading the
    /// checkpoint or the resume point, and initialising the new head): every replica starts alike.
    public func synchronizeInitialModel() {
        guard cluster.isDistributed else { return }
        let values = cluster.broadcast(floats: cluster.isRoot ? model.parameters.flatMap(\.values) + model.runningStatistics : [])
        var offset = 0
        for p in model.parameters {
            values.withUnsafeBufferPointer { p.value.baseAddress!.update(from: $0.baseAddress! + offset, count: p.count) }
            offset += p.count
        }
        model.runningStatistics = Array(values[offset...])
    }

    /// Sets up the reducer and synchronised batch norms before the first step.
    func startDataParallel() {
        guard cluster.isDistributed, reducer == nil else { return }
        let r = GradientReducer(parameters: model.parameters, cluster: cluster)
        reducer = r
        model.onGradientsReady = { [unowned r] in r.ready($0) }
        if syncBatchNorm {
            let c = cluster
            model.batchNormSum = { c.allreduceSum(&$0) }
        }
    }

    /// An epoch's training loss and image count over every process.
    func reducedTrainingFigures(_ lossSum: Double, _ seen: Int) -> (Double, Int) {
        var figures = [lossSum, Double(seen)]
        cluster.allreduceSum(&figures)
        return (figures[0], Int(figures[1]))
    }

    /// After an epoch's steps: rank 0's running statistics go to every process (with per-process
    /// batch norms they differ), then every replica's checksum is compared; different weights on
    /// two processes stop the job.
    func synchronizeReplicas(afterEpoch epoch: Int) throws {
        guard cluster.isDistributed else { return }
        if !syncBatchNorm {
            model.runningStatistics = cluster.broadcast(floats: cluster.isRoot ? model.runningStatistics : [])
        }
        let hash = replicaChecksum()
        let range = cluster.allreduceRange(hash)
        if range.min != range.max { throw TrainingError.replicasDiverged(epoch: epoch, rank: cluster.rank) }
    }

    /// FNV-1a over the bits of every parameter and running statistic.
    func replicaChecksum() -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ values: UnsafeBufferPointer<Float>) {
            for v in values { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
        }
        for p in model.parameters { mix(UnsafeBufferPointer(p.value)) }
        model.runningStatistics.withUnsafeBufferPointer(mix)
        return h
    }

    /// Every process's validation records at rank 0, in `data.val` order; this process's own elsewhere.
    func gathered(_ record: ValidationRecord) -> ValidationRecord {
        guard cluster.isDistributed else { return record }
        let parts = cluster.gather(Trainer.encode(record))
        guard cluster.isRoot else { return record }
        let all = parts.flatMap { Trainer.decode($0) }.sorted { $0.index < $1.index }
        var merged = ValidationRecord()
        for s in all { merged.indices.append(s.index); merged.labels.append(s.label); merged.probabilities.append(s.probabilities) }
        return merged
    }

    /// Every rank's cached head inputs, on every rank (gathered at rank 0, then broadcast).
    func allHeadInputs(_ mine: [Int: [Float]]) -> [Int: [Float]] {
        guard cluster.isDistributed else { return mine }
        var packet = Packet()
        for (index, values) in mine.sorted(by: { $0.key < $1.key }) {
            packet.append(Int64(index)); packet.append(Int64(values.count)); packet.append(floats: values)
        }
        var reader = PacketReader(cluster.broadcast(cluster.gather(packet.bytes).flatMap { $0 }))
        var out: [Int: [Float]] = [:]
        while let index = reader.read(Int64.self), let n = reader.read(Int64.self), let values = reader.readFloats(count: Int(n)) {
            out[Int(index)] = values
        }
        return out
    }

    /// metrics.json's `"distributed"`, nil for one process.
    var distributedSummary: DistributedSummary? {
        guard cluster.isDistributed, let r = reducer else { return nil }
        return DistributedSummary(processes: cluster.size, batchSizePerProcess: config.batchSize,
                                  globalBatchSize: config.batchSize * cluster.size, syncBatchNorm: syncBatchNorm,
                                  allreduceBytesPerStep: r.bytesPerStep, buckets: r.bucketCount, steps: r.timing.steps,
                                  allreduceWaitSeconds: r.timing.waitSeconds, allreduceOverlappedSeconds: r.timing.overlappedSeconds)
    }

    /// The closing line of a data-parallel run (rank 0's figures).
    func dataParallelSummary(_ r: GradientReducer) -> String {
        let t = r.timing
        let total = t.waitSeconds + t.overlappedSeconds
        let share = total > 0 ? 100 * t.overlappedSeconds / total : 0
        return String(format: "allreduce: %@ per step in %d bucket%@, %d steps: waited %.3f s after backward, %.3f s overlapped backward (%.0f%%)",
                      Trainer.byteCount(r.bytesPerStep), r.bucketCount, r.bucketCount == 1 ? "" : "s", t.steps,
                      t.waitSeconds, t.overlappedSeconds, share)
    }

    static func byteCount(_ n: Int) -> String {
        n >= 1 << 20 ? String(format: "%.1f MB", Double(n) / 1e6) : String(format: "%.1f KB", Double(n) / 1e3)
    }

    // MARK: - Validation records as bytes

    /// A record as a packet: per sample its index, label, probability count and probabilities.
    static func encode(_ r: ValidationRecord) -> [UInt8] {
        var packet = Packet()
        for i in r.indices.indices {
            packet.append(Int64(r.indices[i])); packet.append(Int64(r.labels[i]))
            packet.append(Int64(r.probabilities[i].count)); packet.append(floats: r.probabilities[i])
        }
        return packet.bytes
    }

    static func decode(_ bytes: [UInt8]) -> [(index: Int, label: Int, probabilities: [Float])] {
        var reader = PacketReader(bytes)
        var out: [(Int, Int, [Float])] = []
        while let index = reader.read(Int64.self), let label = reader.read(Int64.self), let n = reader.read(Int64.self),
              let probabilities = reader.readFloats(count: Int(n)) {
            out.append((Int(index), Int(label), probabilities))
        }
        return out
    }
}
