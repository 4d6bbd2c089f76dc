import Checkpoint
import Engine
import Models
import TestSupport
import XCTest

/// A large batch runs as chunks (`InferenceModel.logits`): each chunk computes exactly what a
/// batch of its size computes alone, in order, and the whole is the one-pass batch's within f32's
/// rounding between batch sizes.
final class BatchChunkTests: XCTestCase {
    func testChunksAreTheirOwnBatchesInOrder() throws {
        let ckpt = try Checkpoint(contentsOf: FixturePaths.path("densenet/predict/tiny_densenet121.pth"), options: .torchvisionModel())
        let sd = try ckpt.modelStateDict()
        let (batch, size) = (10, 32)
        var state: UInt64 = 5
        let images = (0..<(batch * 3 * size * size)).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) * 4 - 2
        }
        let chunked = try InferenceModel(stateDict: sd)
        chunked.chunkLimit = 4
        let whole = try InferenceModel(stateDict: sd)
        whole.chunksBatches = false
        let got = try images.withUnsafeBufferPointer { try chunked.logits(images: $0, batch: batch, height: size, width: size) }
        let per = 3 * size * size
        var want: [Float] = []
        for (start, n) in [(0, 4), (4, 4), (8, 2)] {
            want += try Array(images[(start * per)..<((start + n) * per)]).withUnsafeBufferPointer {
                try whole.logits(images: $0, batch: n, height: size, width: size)
            }
        }
        XCTAssertEqual(got.count, batch * chunked.numClasses)
        XCTAssertEqual(got, want, "chunks of 4, 4 and 2, each as its own batch")
        let onePass = try images.withUnsafeBufferPointer { try whole.logits(images: $0, batch: batch, height: size, width: size) }
        XCTAssertLessThanOrEqual(maxRelativeError(got, onePass, rows: batch), 1e-5)
        // The cache the chunks are sized by is known (sysfs, or 8 MiB).
        XCTAssertGreaterThan(InferenceModel.lastLevelCache, 0)
    }
}
