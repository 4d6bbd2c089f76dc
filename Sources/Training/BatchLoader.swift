import Random
import Dispatch
import Foundation
import Synchronization
import Imaging

/// Decodes and transforms a batch of samples into one float32 NCHW buffer, on `workers`
/// threads. The random crop and flip of a sample depend only on (seed, epoch, sample), so a
/// run is the same whatever the threads do. Unreadable images are left out of the batch and
/// reported once.
public final class BatchLoader: @unchecked Sendable {
    public struct Batch: Sendable {
        public var images: [Float]
        public var labels: [Int]
        public var indices: [Int]          // sample indices that made it into the batch
        public var failures: [(Int, Error)]
    }

    public let samples: [ImageFolder.Sample]
    public let augment: Bool
    public let imageSize: Int
    public let resize: Int
    public let seed: UInt64
    public let workers: Int
    /// Rotation, ColorJitter, an auto-augment policy and RandomErasing after crop and flip
    /// (`--rotation`, `--color-jitter`, `--auto-augment`, `--random-erase`); nil: none.
    public let augmentation: Augmentation?
    let normalization = Normalization.imagenet

    public init(samples: [ImageFolder.Sample], augment: Bool, imageSize: Int, resize: Int, seed: UInt64, workers: Int,
                augmentation: Augmentation? = nil) {
        self.samples = samples
        self.augment = augment
        self.augmentation = augment ? augmentation : nil
        self.imageSize = imageSize
        self.resize = resize
        self.seed = seed
        self.workers = max(1, workers)
    }

    public var floatsPerImage: Int { 3 * imageSize * imageSize }

    /// The 8-bit image a sample becomes: RandomResizedCrop + RandomHorizontalFlip (then
    /// `augmentation`'s rotation, ColorJitter and policy, drawing on from the same generator)
    /// when augmenting, else Resize + CenterCrop (the eval transform).
    public func image(_ index: Int, epoch: Int) throws -> RGBImage {
        let decoded = try ImageDecoder.decode(path: samples[index].path)
        guard augment else {
            return try EvalTransform(resize: resize, crop: imageSize).image(decoded)
        }
        var rng = SeededRandom(seed: seed, stream: 0xA06, UInt64(epoch), UInt64(index))
        let img = try RandomResizedCrop(size: imageSize).apply(decoded, using: &rng)
        let flipped = RandomHorizontalFlip().apply(img, using: &rng)
        return try augmentation?.apply(flipped, using: &rng) ?? flipped
    }

    /// RandomErasing's generator for a sample: its own stream, so the draws depend only on
    /// (seed, epoch, sample), as the crop's do.
    func erasingRandom(_ index: Int, epoch: Int) -> SeededRandom {
        SeededRandom(seed: seed, stream: 0xE2A5E, UInt64(epoch), UInt64(index))
    }

    public func load(_ indices: [Int], epoch: Int) -> Batch {
        let per = floatsPerImage
        // Each image is decoded into its own array by whichever thread takes it; the results
        // are gathered under a lock and packed in order.
        let results = Mutex([Result<[Float], any Error>?](repeating: nil, count: indices.count))
        let work: @Sendable (Int) -> Void = { i in
            let result = Result { () throws -> [Float] in
                let img = try self.image(indices[i], epoch: epoch)
                var out = [Float](repeating: 0, count: per)
                try out.withUnsafeMutableBufferPointer { try self.normalization.write(img, into: $0) }
                if let a = self.augmentation, a.randomErase != nil {
                    var rng = self.erasingRandom(indices[i], epoch: epoch)
                    out.withUnsafeMutableBufferPointer { a.erase($0, size: self.imageSize, using: &rng) }
                }
                return out
            }
            results.withLock { $0[i] = result }
        }
        if workers > 1 && indices.count > 1 {
            DispatchQueue.concurrentPerform(iterations: indices.count, execute: work)
        } else {
            for i in indices.indices { work(i) }
        }
        var batch = Batch(images: [], labels: [], indices: [], failures: [])
        batch.images.reserveCapacity(indices.count * per)
        let done = results.withLock { $0 }
        for (i, index) in indices.enumerated() {
            switch done[i] {
            case .success(let image)?:
                batch.images += image
                batch.labels.append(samples[index].label)
                batch.indices.append(index)
            case .failure(let e)?:
                batch.failures.append((index, e))
            case nil:
                batch.failures.append((index, ImagingError.unreadable(path: samples[index].path, reason: "not decoded")))
            }
        }
        return batch
    }
}
