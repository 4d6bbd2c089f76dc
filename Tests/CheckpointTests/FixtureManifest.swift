import Foundation
import XCTest
@testable import Checkpoint

/// `Fixtures/checkpoints/expected.json`, written by `Fixtures/gen_checkpoints.py` with real torch.
struct FixtureManifest {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/checkpoints")

    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    static func load() throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: root.appendingPathComponent("expected.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
    }
}
