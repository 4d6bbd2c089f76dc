import Checkpoint
import Foundation
import Models
import TestSupport
import XCTest
@testable import Training

/// The sampling and the starting head that Fixtures/ddp's torch.distributed runs were given
/// (Fixtures/gen_ddp.py re-implements Graft's shuffle and head initialisation): Graft must
/// produce the very same, or the DDP parity tests would compare different runs.
final class DistributedSamplerTests: XCTestCase {
    struct Meta: Decodable {
        let seed: UInt64
        let trainFiles: [String]
        let orders: [[Int]]
        let headInit: [String: [Float]]
    }

    static func meta() throws -> Meta {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Meta.self, from: Data(contentsOf: FixturePaths.root.appendingPathComponent("ddp/meta.json")))
    }

    func testEpochOrdersAreTheFixturesAndTheSingleProcessOnes() throws {
        let meta = try Self.meta()
        let data = try ImageFolder(root: FixturePaths.path("trainset"), valSplit: 0.1, seed: meta.seed)
        let root = FixturePaths.path("trainset/train") + "/"
        XCTAssertEqual(data.train.map { String($0.path.dropFirst(root.count)) }, meta.trainFiles)
        for (epoch, order) in meta.orders.enumerated() {
            XCTAssertEqual(DistributedSampler.epochOrder(Array(data.train.indices), seed: meta.seed, epoch: epoch), order, "epoch \(epoch)")
        }
    }

    func testHeadInitialisationIsTheFixtures() throws {
        let meta = try Self.meta()
        let sd = try Checkpoint(contentsOf: FixturePaths.path("predict/basic.pth")).stateDict
        let model = try Network(stateDict: sd, head: .replace(numClasses: 3), seed: meta.seed)
        let fc = model.stateDict()
        XCTAssertEqual(fc["fc.weight"]?.floats(), meta.headInit["fc.weight"])
        XCTAssertEqual(fc["fc.bias"]?.floats(), meta.headInit["fc.bias"])
    }

    /// torch's DistributedSampler(shuffle=False): padded by repeating from the start, strided.
    func testShardsPadAndStrideAsTorch() {
        let order = [7, 3, 9, 1, 5]
        XCTAssertEqual(DistributedSampler.shard(order, rank: 0, size: 2), [7, 9, 5])
        XCTAssertEqual(DistributedSampler.shard(order, rank: 1, size: 2), [3, 1, 7])
        XCTAssertEqual(DistributedSampler.shard(order, rank: 2, size: 3), [9, 7])
        // More processes than samples: the order is repeated as often as needed.
        XCTAssertEqual((0..<4).map { DistributedSampler.shard([4, 6], rank: $0, size: 4) }, [[4], [6], [4], [6]])
        XCTAssertEqual(DistributedSampler.shard(order, rank: 0, size: 1), order)
        XCTAssertEqual(DistributedSampler.batches([1, 2, 3, 4, 5], batchSize: 2), [[1, 2], [3, 4], [5]])
    }
}
