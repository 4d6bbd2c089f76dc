import Foundation
import TestSupport
import XCTest
@testable import Inference

/// batch_predict's split over the ranks of a job: who predicts what, the records that travel
/// to rank 0, and the whole sharded prediction, its ranks run one after another in this
/// process, against one process's.
final class PredictionShardsTests: XCTestCase {
    func testEveryRankTakesEveryNthBatchAndTheRoundsCoverTheListingOnce() {
        // 10 images in batches of 2: [0 1] [2 3] [4 5] [6 7] [8 9]; rank 1 of 3 has batches 1 and 4.
        XCTAssertEqual(PredictionShards(rank: 1, size: 3, total: 10, batchSize: 2, batchesPerRound: 1).indices, [2, 3, 8, 9])
        XCTAssertEqual(PredictionShards(rank: 0, size: 2, total: 5, batchSize: 2).indices, [0, 1, 4], "the last batch is partial")
        XCTAssertEqual(PredictionShards(rank: 2, size: 3, total: 2, batchSize: 1).indices, [], "fewer images than ranks: nothing to do")
        XCTAssertEqual(PredictionShards(rank: 0, size: 1, total: 7, batchSize: 8).batchesPerRound, 32, "about 256 images per round")
        XCTAssertEqual(PredictionShards(rank: 0, size: 1, total: 7, batchSize: 1000).batchesPerRound, 1)
        for (total, size, batch, perRound) in [(10, 3, 2, 1), (7, 2, 3, 256), (0, 4, 2, 3), (2, 3, 1, 1), (23, 3, 2, 2), (9, 2, 4, 1)] {
            var seen: [Int] = []
            let any = PredictionShards(rank: 0, size: size, total: total, batchSize: batch, batchesPerRound: perRound)
            let batches = (total + batch - 1) / batch
            XCTAssertEqual(any.rounds, (batches + size * perRound - 1) / (size * perRound))
            for k in 0..<any.rounds {
                var round: [Int] = []
                for r in 0..<size {
                    let s = PredictionShards(rank: r, size: size, total: total, batchSize: batch, batchesPerRound: perRound)
                    let mine = s.indices(ofRound: k, rank: r)
                    XCTAssertTrue(mine.allSatisfy { ($0 / batch) % size == r && s.rank(of: $0) == r && s.round(of: $0) == k })
                    XCTAssertTrue(mine.count <= perRound * batch)
                    round += mine
                }
                XCTAssertEqual(round.sorted(), Array(any.range(ofRound: k)))
                seen += round
            }
            XCTAssertEqual(seen.sorted(), Array(0..<total), "\(total) images, \(size) ranks, batch \(batch), \(perRound) per round")
            let union = (0..<size).flatMap { PredictionShards(rank: $0, size: size, total: total, batchSize: batch, batchesPerRound: perRound).indices }
            XCTAssertEqual(union.sorted(), Array(0..<total))
            XCTAssertEqual(Set(union).count, total, "no image twice")
        }
    }

    func testRecordsTravelBitForBit() {
        let records: [ShardRecord] = [
            .prediction(index: 7, probs: [0.25, Float(bitPattern: 0x7FC0_0001), -0, .leastNonzeroMagnitude, 1]),
            .failure(index: 10, message: "photos/été 1.jpg: not a JPEG file"),
            .failure(index: 13, message: ""),
            .prediction(index: 1 << 40, probs: []),
        ]
        let bytes = ShardRecord.encode(records)
        let back = ShardRecord.decode(bytes)
        XCTAssertEqual(back?.count, records.count)
        if case .prediction(_, let probs)? = back?.first {
            XCTAssertEqual(probs.map(\.bitPattern), [Float(0.25), Float(bitPattern: 0x7FC0_0001), -0, .leastNonzeroMagnitude, 1].map(\.bitPattern))
        } else { XCTFail("\(String(describing: back))") }
        XCTAssertEqual(Array(back?.dropFirst() ?? []), Array(records.dropFirst()))
        XCTAssertEqual(ShardRecord.decode([]), [])
        for cut in [1, 9, 13, 20, bytes.count - 1] {
            XCTAssertNil(ShardRecord.decode(Array(bytes.prefix(cut))), "cut at \(cut)")
        }
        var badTag = ShardRecord.encode([.failure(index: 0, message: "x")])
        badTag[8] = 9
        XCTAssertNil(ShardRecord.decode(badTag))
    }

    func testTheListingTravelsWhole() {
        for listing in [[], ["a.jpg"], ["dir/b c.png", "d/ä.JPG", "e.jpeg"]] {
            XCTAssertEqual(PredictionShards.decode(listing: PredictionShards.encode(listing: listing)), listing)
        }
    }

    /// Rank 0 gets every image's result in listing order, the probabilities bit for bit (the
    /// same batches: on AVX2 kernels, other batches change the last bits) and the failures with
    /// their messages, as one process does: ranks 2 and 1 run first and keep what
    /// they send in each round; rank 0 then gets those bytes in its gathers.
    func testShardedPredictionAtTheRootIsOneProcesssPrediction() throws {
        let fixtures = FixturePaths.root
        let predictor = try Predictor(weights: fixtures.appendingPathComponent("predict/basic.pth").path,
                                      classIndices: fixtures.appendingPathComponent("predict/class_indices.json").path)
        let names = ["jpeg_420.jpg", "png_rgb.png", "truncated.jpg", "jpeg_grey.jpg", "png_palette.png", "jpeg_exif6.jpg", "png_tiny.png"]
        var paths = names.map { fixtures.appendingPathComponent("images/src/\($0)").path }
        paths.insert(fixtures.appendingPathComponent("images/src/missing.jpg").path, at: 4)

        var single: [(String, Result<Prediction, Error>)] = []
        try predictor.predict(paths: paths, batchSize: 2) { single.append(($0, $1)) }

        for (size, perRound) in [(1, 1), (2, 1), (3, 1), (2, 8)] {
            var sent: [[[UInt8]]] = Array(repeating: [], count: size)   // sent[rank][round]
            for rank in (1..<size).reversed() {
                let shards = PredictionShards(rank: rank, size: size, total: paths.count, batchSize: 2, batchesPerRound: perRound)
                try predictor.predict(shards: shards, paths: paths, gather: { sent[rank].append($0); return [] }) { _, _ in
                    XCTFail("only rank 0 gets results")
                }
            }
            let shards = PredictionShards(rank: 0, size: size, total: paths.count, batchSize: 2, batchesPerRound: perRound)
            var round = 0
            var root: [(String, Result<Prediction, Error>)] = []
            try predictor.predict(shards: shards, paths: paths, gather: { mine in
                defer { round += 1 }
                return [mine] + (1..<size).map { sent[$0][round] }
            }) { root.append(($0, $1)) }
            XCTAssertEqual(round, shards.rounds, "rank 0 gathers once per round")
            XCTAssertTrue(sent.dropFirst().allSatisfy { $0.count == shards.rounds }, "every rank gathers once per round")
            XCTAssertEqual(root.map(\.0), paths, "\(size) ranks: listing order")
            for ((path, a), (_, b)) in zip(root, single) {
                switch (a, b) {
                case let (.success(p), .success(q)):
                    XCTAssertEqual(p.image, q.image)
                    XCTAssertEqual(p.probs.map(\.bitPattern), q.probs.map(\.bitPattern), "\(size) ranks: \(path)")
                case let (.failure(e), .failure(f)):
                    XCTAssertEqual("\(e)", "\(f)")
                default:
                    XCTFail("\(size) ranks, \(path): \(a) against one process's \(b)")
                }
            }
        }
        XCTAssertEqual(single.filter { if case .failure = $0.1 { return true } else { return false } }.count, 2,
                       "the truncated and the missing image fail")
    }

    func testAResultThatNeverArrivedIsAFailureNotAGap() {
        let shards = PredictionShards(rank: 0, size: 2, total: 3, batchSize: 1)
        let paths = ["a.jpg", "b.jpg", "c.jpg"]
        let fromRoot = ShardRecord.encode([.prediction(index: 0, probs: [1]), .prediction(index: 2, probs: [1])])
        let merged = shards.merge(round: 0, gathered: [fromRoot, [1, 2, 3]], paths: paths)
        XCTAssertEqual(merged.map(\.path), paths)
        guard case .failure(let e) = merged[1].result else { return XCTFail("\(merged[1])") }
        XCTAssertEqual("\(e)", "b.jpg: rank 1 sent no result for it")
    }
}
