import Random
import Dispatch
import Foundation
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
    let normalization = Normalization.imagenet

    public init(samples: [ImageFolder.Sample], augment: Bool, imageSize: Int, resize: Int, seed: UInt64, workers: Int) {
        self.samples = samples
        self.augment = augment
        self.imageSize = imageSize
        self.resize = resize
        self.seed = seed
        self.workers = max(1, workers)
    }

    public var floatsPerImage: Int { 3 * imageSize * imageSize }

    /// The 8-bit image a sample becomes: RandomResizedCrop + RandomHorizontalFlip when
    /// augmenting, else Resize + CenterCrop (the eval transform).
    public func image(_ index: Int, epoch: Int) throws -> RGBImage {
        let decoded = try ImageDecoder.decode(path: samples[index].path)
        guard augment else {
            return try EvalTransform(resize: resize, crop: imageSize).image(decoded)
        }
        var rng = SeededRandom(seed: seed, stream: 0xA06, UInt64(epoch), UInt64(index))
        let img = try RandomResizedCrop(size: imageSize).apply(decoded, using: &rng)
        return RandomHorizontalFlip().apply(img, using: &rng)
    }

    public func load(_ indices: [Int], epoch: Int) -> Batch {
        let per = floatsPerImage
        var buffer = [Float](repeating: 0, count: indices.count * per)
        var errors = [Error?](repeating: nil, count: indices.count)
        let lock = NSLock()
        buffer.withUnsafeMutableBufferPointer { out in
            let base = out
            let work = { (i: Int) in
                do {
                    let img = try self.image(indices[i], epoch: epoch)
                    try self.normalization.write(img, into: UnsafeMutableBufferPointer(rebasing: base[(i * per)..<((i + 1) * per)]))
                } catch {
                    lock.lock(); errors[i] = error; lock.unlock()
                }
            }
            if workers > 1 && indices.count > 1 {
                DispatchQueue.concurrentPerform(iterations: indices.count, execute: work)
            } else {
                for i in indices.indices { work(i) }
            }
        }
        var batch = Batch(images: [], labels: [], indices: [], failures: [])
        batch.images.reserveCapacity(buffer.count)
        for (i, index) in indices.enumerated() {
            if let e = errors[i] { batch.failures.append((index, e)); continue }
            batch.images += buffer[(i * per)..<((i + 1) * per)]
            batch.labels.append(samples[index].label)
            batch.indices.append(index)
        }
        return batch
    }
}
