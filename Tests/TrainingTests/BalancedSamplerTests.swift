import Foundation
import TestSupport
import XCTest
@testable import Training

/// `--sampler balanced` (WeightedRandomSampler's semantics from Graft's generator), by
/// statistics: every class drawn about equally often, whatever the counts.
final class BalancedSamplerTests: XCTestCase {
    /// 100 images: 70 / 20 / 9 / 1 per class, listed in an uneven order with gaps (unreadable
    /// images left out).
    let indices = Array(0..<102).filter { $0 != 7 && $0 != 57 }
    func label(_ i: Int) -> Int { i < 72 ? 0 : i < 92 ? 1 : i < 101 ? 2 : 3 }

    func testClassesAreDrawnAboutEquallyOftenAndEachImageOfAClassAlike() {
        XCTAssertEqual(indices.count, 100)
        XCTAssertEqual(Dictionary(grouping: indices, by: label).mapValues(\.count), [0: 70, 1: 20, 2: 9, 3: 1])
        var perClass = [Int](repeating: 0, count: 4), perImage: [Int: Int] = [:]
        let epochs = 400
        for epoch in 0..<epochs {
            let order = BalancedSampler.epochOrder(indices, label: label, seed: 3, epoch: epoch)
            XCTAssertEqual(order.count, indices.count, "num_samples = len(train)")
            for i in order {
                perClass[label(i)] += 1
                perImage[i, default: 0] += 1
            }
        }
        let draws = Double(epochs * indices.count)
        for (c, n) in perClass.enumerated() {
            XCTAssertEqual(Double(n) / draws, 0.25, accuracy: 0.01, "class \(c): \(perClass)")
        }
        XCTAssertTrue(perImage.keys.allSatisfy(indices.contains), "only the given images are drawn")
        // Class 0's 70 images share its quarter: about 143 draws each over 400 epochs.
        let zero = indices.filter { label($0) == 0 }.map { Double(perImage[$0] ?? 0) }
        let mean = draws / 4 / 70
        XCTAssertTrue(zero.allSatisfy { abs($0 - mean) < 0.35 * mean }, "\(zero.min()!)...\(zero.max()!) around \(mean)")
        // The lone image of class 3 is drawn about 25 times an epoch.
        XCTAssertEqual(Double(perImage[101] ?? 0) / Double(epochs), 25, accuracy: 1.5)
    }

    func testSameSeedSameDrawsAndEachEpochItsOwn() {
        let a = BalancedSampler.epochOrder(indices, label: label, seed: 3, epoch: 5)
        XCTAssertEqual(a, BalancedSampler.epochOrder(indices, label: label, seed: 3, epoch: 5))
        XCTAssertNotEqual(a, BalancedSampler.epochOrder(indices, label: label, seed: 3, epoch: 6))
        XCTAssertNotEqual(a, BalancedSampler.epochOrder(indices, label: label, seed: 4, epoch: 5))
        XCTAssertEqual(BalancedSampler.epochOrder([], label: label, seed: 3, epoch: 0), [])
    }

    /// Under mpirun every rank draws the same global sequence (same seed) and takes its share as
    /// DistributedSampler does: the shares together are the sequence, padded, position by position.
    func testRanksSplitTheOneGlobalSequence() {
        let global = BalancedSampler.epochOrder(indices, label: label, seed: 9, epoch: 2)
        let size = 3
        let shares = (0..<size).map { DistributedSampler.shard(BalancedSampler.epochOrder(indices, label: label, seed: 9, epoch: 2), rank: $0, size: size) }
        XCTAssertEqual(Set(shares.map(\.count)), [34])
        for p in 0..<(34 * size) { XCTAssertEqual(shares[p % size][p / size], global[p % global.count]) }
    }
}
