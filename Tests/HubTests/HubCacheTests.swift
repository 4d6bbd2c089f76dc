import Foundation
import XCTest
import Hub
import TestSupport

/// `HubCache.checkpointsDirectory` against `torch.hub.get_dir()` run by Fixtures/gen_hub.py
/// under each environment (Fixtures/hub/get_dir.json).
final class HubCacheTests: XCTestCase {
    private struct Case: Decodable {
        let name: String
        let environment: [String: String]
        let get_dir: String
    }
    private struct Cases: Decodable { let cases: [Case] }

    func testCheckpointsDirectoryFollowsTorchHubGetDir() throws {
        let data = try Data(contentsOf: FixturePaths.url("hub/get_dir.json"))
        let cases = try JSONDecoder().decode(Cases.self, from: data).cases
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        for c in cases {
            XCTAssertEqual(HubCache.checkpointsDirectory(environment: c.environment),
                           c.get_dir + "/checkpoints", c.name)
        }
        // The fixture covers the rules it is meant to.
        let names = Set(cases.map(\.name))
        for required in ["torch_home_wins_over_xdg", "xdg_only", "neither", "torch_home_tilde"] {
            XCTAssertTrue(names.contains(required), required)
        }
    }
}
