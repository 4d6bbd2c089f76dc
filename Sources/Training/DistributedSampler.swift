import Random

/// Which training samples each process takes in an epoch, as PyTorch's `DistributedSampler`
/// (shuffle, drop_last=False) gives them: the epoch's seeded shuffle of every readable sample
/// (the very order a single-process run uses, so `-np 1` is unchanged), padded to a multiple of
/// the process count by repeating it from the start, then rank r takes positions r, r+N, r+2N...
/// Every rank thus gets ceil(count / N) samples, and the same number of batches.
public enum DistributedSampler {
    /// The epoch's global order: `indices` shuffled by Graft's generator for (seed, epoch).
    public static func epochOrder(_ indices: [Int], seed: UInt64, epoch: Int) -> [Int] {
        var rng = SeededRandom(seed: seed, stream: 0x5A4F, UInt64(epoch))
        return indices.shuffled(using: &rng)
    }

    /// Rank `rank`'s share of `order` among `size` processes (torch's padding and striding).
    public static func shard(_ order: [Int], rank: Int, size: Int) -> [Int] {
        guard size > 1, !order.isEmpty else { return order }
        let total = (order.count + size - 1) / size * size
        var padded = order
        while padded.count < total { padded += order.prefix(total - padded.count) }
        return stride(from: rank, to: total, by: size).map { padded[$0] }
    }

    /// Rank `rank`'s share of `count` samples without padding: positions rank, rank+N, ... (the
    /// validation set, the frozen trunk's features: each sample counted once over all ranks).
    public static func unpadded(_ count: Int, rank: Int, size: Int) -> [Int] {
        Array(stride(from: rank, to: count, by: size))
    }

    /// `share` cut into batches of `batchSize` (the last one shorter).
    public static func batches(_ share: [Int], batchSize: Int) -> [[Int]] {
        stride(from: 0, to: share.count, by: batchSize).map { Array(share[$0..<min($0 + batchSize, share.count)]) }
    }
}
