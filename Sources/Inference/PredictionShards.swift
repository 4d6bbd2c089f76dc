import Cluster
import Foundation

/// batch_predict over the ranks of a job (`mpirun -np N`): the sorted listing is cut into the
/// batches one process would run (`batchSize` consecutive images, the last one partial), rank
/// r predicts every N-th of them (batches r, r + N, r + 2N ...), and the root gets every result
/// back in listing order, so that what it prints is what one process prints.
///
/// Whole batches, not every N-th image: oneDNN's kernels may round an image's arithmetic
/// differently with other images beside it in the batch (measured on the AVX2 kernels: the
/// last bits of the probabilities change), so only the same batches give the same bytes.
///
/// The listing is worked through in rounds of `batchesPerRound` batches per rank, each ended by
/// one gather of the round's results at the root: the root prints as it goes (as one process
/// does) and holds one round's results at a time, whatever the folder's size. Every rank has
/// `batchesPerRound` batches in each round but the last.
public struct PredictionShards: Sendable, Equatable {
    public let rank: Int
    public let size: Int
    /// The number of images in the listing.
    public let total: Int
    /// Images per batch (`--batch-size`).
    public let batchSize: Int
    /// Batches per rank per round.
    public let batchesPerRound: Int

    /// Images per rank per round when not given: about 256, so that the root holds about
    /// size × 256 results at a time (64 ranks × 256 images × 1000 classes is 65 MB), and a
    /// gather every 256 images costs little next to predicting them.
    public static let imagesPerRound = 256

    public init(rank: Int, size: Int, total: Int, batchSize: Int, batchesPerRound: Int? = nil) {
        precondition(size >= 1 && (0..<size).contains(rank) && total >= 0 && batchSize >= 1)
        self.rank = rank; self.size = size; self.total = total; self.batchSize = batchSize
        self.batchesPerRound = max(1, batchesPerRound ?? PredictionShards.imagesPerRound / batchSize)
    }

    /// The number of batches in the listing.
    public var batches: Int { (total + batchSize - 1) / batchSize }

    /// The listing indices of batch `b`.
    public func images(ofBatch b: Int) -> Range<Int> { min(total, b * batchSize) ..< min(total, (b + 1) * batchSize) }

    /// The listing indices this rank predicts, in order.
    public var indices: [Int] { stride(from: rank, to: batches, by: size).flatMap { images(ofBatch: $0) } }

    /// Batches per round over all ranks.
    public var roundLength: Int { size * batchesPerRound }

    /// The number of rounds (gathers): every rank takes part in each, with or without images.
    public var rounds: Int { (batches + roundLength - 1) / roundLength }

    /// The round of listing index `index`.
    public func round(of index: Int) -> Int { index / batchSize / roundLength }

    /// The listing indices of round `k`.
    public func range(ofRound k: Int) -> Range<Int> {
        min(total, k * roundLength * batchSize) ..< min(total, (k + 1) * roundLength * batchSize)
    }

    /// The rank that predicts listing index `index`.
    public func rank(of index: Int) -> Int { (index / batchSize) % size }

    /// The listing indices `rank` predicts in round `k`.
    public func indices(ofRound k: Int, rank: Int) -> [Int] {
        let first = k * roundLength
        return stride(from: first + rank, to: min(batches, first + roundLength), by: size).flatMap { images(ofBatch: $0) }
    }

    // MARK: - The listing, sent from the root to every rank

    /// The listing as bytes (paths separated by NUL, which no path holds).
    public static func encode(listing: [String]) -> [UInt8] {
        Array(listing.joined(separator: "\0").utf8)
    }

    public static func decode(listing bytes: [UInt8]) -> [String] {
        bytes.isEmpty ? [] : bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// One image's outcome on its way from a rank to the root: the probabilities (bit for bit) or
/// the message of the error that image gave.
public enum ShardRecord: Equatable, Sendable {
    case prediction(index: Int, probs: [Float])
    case failure(index: Int, message: String)

    public var index: Int {
        switch self {
        case .prediction(let i, _), .failure(let i, _): return i
        }
    }

    /// Records as bytes: per record the listing index (u64), a tag (0 prediction, 1 failure),
    /// a count (u32), then that many f32 bit patterns or UTF-8 bytes; little-endian.
    public static func encode(_ records: [ShardRecord]) -> [UInt8] {
        var packet = Packet()
        for record in records {
            switch record {
            case let .prediction(index, probs):
                packet.append(UInt64(index)); packet.append(UInt8(0)); packet.append(UInt32(probs.count))
                packet.append(floats: probs)
            case let .failure(index, message):
                let utf8 = Array(message.utf8)
                packet.append(UInt64(index)); packet.append(UInt8(1)); packet.append(UInt32(utf8.count))
                packet.append(bytes: utf8)
            }
        }
        return packet.bytes
    }

    /// The records in `bytes`; nil when they are cut short or malformed.
    public static func decode(_ bytes: [UInt8]) -> [ShardRecord]? {
        var reader = PacketReader(bytes)
        var records: [ShardRecord] = []
        while !reader.isAtEnd {
            guard let index = reader.read(UInt64.self), index <= UInt64(Int.max), let tag = reader.read(UInt8.self),
                  let count = reader.read(UInt32.self).map(Int.init) else { return nil }
            switch tag {
            case 0:
                guard let probs = reader.readFloats(count: count) else { return nil }
                records.append(.prediction(index: Int(index), probs: probs))
            case 1:
                guard let utf8 = reader.readBytes(count: count) else { return nil }
                records.append(.failure(index: Int(index), message: String(decoding: utf8, as: UTF8.self)))
            default:
                return nil
            }
        }
        return records
    }
}

/// An image another rank could not predict: its message, printed as the rank wrote it.
public struct ShardFailure: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

extension PredictionShards {
    /// Round `k` in listing order, from every rank's records (`gathered[r]` is rank r's bytes).
    /// An image whose result did not arrive (which only a defect can cause) is a failure that
    /// says so, never a silent gap.
    public func merge(round k: Int, gathered: [[UInt8]], paths: [String]) -> [(path: String, result: Result<Prediction, Error>)] {
        var byIndex: [Int: ShardRecord] = [:]
        for (r, bytes) in gathered.enumerated() {
            for record in ShardRecord.decode(bytes) ?? [] where record.index < total && rank(of: record.index) == r {
                byIndex[record.index] = record
            }
        }
        return range(ofRound: k).map { i in
            let path = paths[i]
            switch byIndex[i] {
            case .prediction(_, let probs)?: return (path, .success(Prediction(image: path, probs: probs)))
            case .failure(_, let message)?: return (path, .failure(ShardFailure(message: message)))
            case nil: return (path, .failure(ShardFailure(message: "\(path): rank \(rank(of: i)) sent no result for it")))
            }
        }
    }
}

extension Predictor {
    /// Predicts this rank's share of `paths` (every `shards.size`-th batch, from `shards.rank`) and,
    /// at the root (rank 0), calls `result` for every path of the listing in listing order, as
    /// `predict(paths:batchSize:result:)` does for all of them in one process. `gather` sends
    /// a rank's bytes to the root and returns every rank's there, in rank order (Cluster's
    /// gather); every rank calls it once per round, with or without images of its own.
    /// `broadcast` (Cluster's, from the root to every rank): with `--conv auto`, rank 0 decides
    /// every batch size's conv shapes for all ranks before the first batch, so that the ranks
    /// compute alike (`decideConvolutions`).
    public func predict(shards: PredictionShards, paths: [String],
                        gather: ([UInt8]) -> [[UInt8]], broadcast: (([UInt8]) -> [UInt8])? = nil,
                        result: (String, Result<Prediction, Error>) -> Void) throws {
        precondition(paths.count == shards.total)
        try decideConvolutions(images: shards.total, batchSize: shards.batchSize, isRoot: shards.rank == 0, broadcast: broadcast)
        let mine = shards.indices
        var records: [ShardRecord] = []
        var gatheredRounds = 0
        func finish(through round: Int) {
            while gatheredRounds <= round {
                let k = gatheredRounds
                let all = gather(ShardRecord.encode(records.filter { shards.round(of: $0.index) == k }))
                records.removeAll { shards.round(of: $0.index) == k }
                if shards.rank == 0 {
                    for (path, r) in shards.merge(round: k, gathered: all, paths: paths) { result(path, r) }
                }
                gatheredRounds += 1
            }
        }
        var next = 0
        // The rank's batches, one after another, cut again into batches of the same size: the
        // same batches (only the listing's last one is partial, and it is this rank's last).
        try predict(paths: mine.map { paths[$0] }, batchSize: shards.batchSize) { _, r in
            let index = mine[next]
            next += 1
            switch r {
            case .success(let p): records.append(.prediction(index: index, probs: p.probs))
            case .failure(let e): records.append(.failure(index: index, message: "\(e)"))
            }
            // This rank's last image of the round: the round can be gathered.
            if next == mine.count || shards.round(of: mine[next]) != shards.round(of: index) {
                finish(through: shards.round(of: index))
            }
        }
        finish(through: shards.rounds - 1)
    }
}
