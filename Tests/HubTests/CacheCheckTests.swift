import Foundation
import XCTest
@testable import Hub

/// A file in torch.hub's cache whose SHA-256 does not match its name is never used: it is moved
/// aside (its new name is said), then downloaded again unless the network is off limits.
final class CacheCheckTests: XCTestCase {
    private var f: HubFixture!
    private let wrong = Data("an HTML error page, not the weights\n".utf8)

    override func setUpWithError() throws { f = try HubFixture() }
    override func tearDown() { f.tearDown() }

    private var environment: [String: String] { ["TORCH_HOME": f.dir.appendingPathComponent("torch").path, "HOME": f.dir.path] }

    private final class Calls: @unchecked Sendable {
        var downloads = 0
        var notes: [String] = []
    }

    private func resolve(offline: Bool = false, calls: Calls) throws -> ResolvedWeights {
        try WeightsResolver.resolve("tiny", mirror: nil, offline: offline, environment: environment, registry: [f.weights],
                                    note: { calls.notes.append($0) }) { [payload = f.payload] _, destination, _ in
            calls.downloads += 1
            try payload.write(to: URL(fileURLWithPath: destination))
        }
    }

    /// The moved-aside files in the cache.
    private func movedAside() -> [String] {
        f.cacheListing().filter { $0.hasPrefix(f.fileName + ".corrupt-") }
    }

    func testAWrongFileIsMovedAsideAndDownloadedAgain() throws {
        try f.makeCache()
        try wrong.write(to: URL(fileURLWithPath: f.destination))
        let calls = Calls()
        let resolved = try resolve(calls: calls)
        XCTAssertEqual(resolved.path, f.destination)
        XCTAssertEqual(calls.downloads, 1, "the wrong file was used")
        XCTAssertEqual(FileManager.default.contents(atPath: f.destination), f.payload)
        let aside = movedAside()
        XCTAssertEqual(aside.count, 1, "\(f.cacheListing())")
        let moved = f.cache.appendingPathComponent(aside.first ?? "").path
        XCTAssertEqual(FileManager.default.contents(atPath: moved), wrong, "the wrong file's bytes are kept aside")
        XCTAssertEqual(calls.notes.count, 1)
        let note = calls.notes.first ?? ""
        for part in [f.destination, moved, String(f.sha.prefix(8)), SHA256Digest.hex(wrong)] {
            XCTAssertTrue(note.contains(part), "'\(part)' missing from: \(note)")
        }
        // The next run finds the right file: no download, no note.
        XCTAssertEqual(try resolve(calls: calls).path, f.destination)
        XCTAssertEqual(calls.downloads, 1)
        XCTAssertEqual(calls.notes.count, 1)
    }

    func testOfflineAWrongFileIsMovedAsideAndTheOfflineAdviceGiven() throws {
        try f.makeCache()
        try wrong.write(to: URL(fileURLWithPath: f.destination))
        let calls = Calls()
        XCTAssertThrowsError(try resolve(offline: true, calls: calls)) { error in
            guard case .offline? = error as? HubError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(calls.downloads, 0)
        XCTAssertEqual(movedAside().count, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.destination))
        XCTAssertTrue(calls.notes.first?.contains(movedAside().first ?? "?") ?? false, "\(calls.notes)")
    }

    func testAFileThatCannotBeMovedAsideSaysToDeleteIt() {
        let e = HubError.wrongFileInCache(path: "/cache/it's.pth", expectedPrefix: "b627a593", actual: "00ff", reason: "Read-only file system")
        for part in ["/cache/it's.pth", "b627a593", "Read-only file system", "rm -- '/cache/it'\\''s.pth'"] {
            XCTAssertTrue(e.description.contains(part), "'\(part)' missing from: \(e)")
        }
    }
}
