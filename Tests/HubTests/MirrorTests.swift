import Foundation
import XCTest
@testable import Hub

/// Named weights through `--weights-mirror` to serve.py on loopback, with the real Downloader:
/// a cache hit makes no request, a missing file is fetched from the mirror's path, a file whose
/// bytes do not match its name's hash is deleted, offline makes no request.
final class MirrorTests: XCTestCase {
    private var dir: URL!
    private var server: LoopbackServer?
    private let weights = TorchvisionWeights.all.first { $0.architecture == "resnet18" }!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("MirrorTests-\(UUID().uuidString)")
        let models = dir.appendingPathComponent("root/mirror/models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        // Not resnet18's bytes: its SHA-256 does not start with the prefix in its name.
        try Data(repeating: 7, count: 50_000).write(to: models.appendingPathComponent(weights.fileName))
        server = try LoopbackServer(root: dir.appendingPathComponent("root"), log: dir.appendingPathComponent("requests.log"))
    }

    override func tearDownWithError() throws {
        server?.stop()
        try? FileManager.default.removeItem(at: dir)
    }

    private var environment: [String: String] { ["TORCH_HOME": dir.appendingPathComponent("torch").path, "HOME": dir.path] }
    private var cache: String { dir.appendingPathComponent("torch/hub/checkpoints").path }

    private func resolve(offline: Bool = false) throws -> ResolvedWeights {
        let mirror = try XCTUnwrap(server).url("/mirror/models/").absoluteString
        return try WeightsResolver.resolve("resnet18", mirror: mirror, offline: offline, environment: environment) { url, destination, prefix in
            try Downloader().download(from: url, to: destination, sha256Prefix: prefix)
        }
    }

    func testAFileThatDoesNotMatchItsHashIsFetchedFromTheMirrorThenDeleted() throws {
        XCTAssertThrowsError(try resolve()) { error in
            guard case .hashMismatch(let url, _, _, _)? = error as? DownloadError else { return XCTFail("\(error)") }
            XCTAssertTrue(url.hasSuffix("/mirror/models/\(weights.fileName)"), url)
            XCTAssertTrue("\(error)".contains("nothing was used"), "\(error)")
        }
        XCTAssertEqual(server?.requests().count, 1, "one request, to the mirror's path")
        XCTAssertTrue(server?.requests().first?.contains("/mirror/models/\(weights.fileName)") ?? false, "\(server?.requests() ?? [])")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache + "/" + weights.fileName), "nothing is left in the cache")
        XCTAssertFalse(FileManager.default.fileExists(atPath: Downloader.partialPath(for: cache + "/" + weights.fileName)))
    }

    func testACacheHitMakesNoRequestAndOfflineMakesNone() throws {
        XCTAssertThrowsError(try resolve(offline: true)) { XCTAssertTrue("\($0)".contains("curl -L -o"), "\($0)") }
        XCTAssertEqual(server?.requests() ?? [], [], "offline: no request")
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: cache + "/" + weights.fileName, contents: Data([1])))
        let hit = try resolve()
        XCTAssertEqual(hit.path, cache + "/" + weights.fileName)
        XCTAssertEqual(hit.weights, weights)
        XCTAssertEqual(server?.requests() ?? [], [], "a cache hit: no request")
    }

    func testAMissingFileOnTheMirrorNamesTheURLAndTheFolder() throws {
        try FileManager.default.removeItem(at: dir.appendingPathComponent("root/mirror/models/\(weights.fileName)"))
        XCTAssertThrowsError(try resolve()) { error in
            guard case .httpStatus(404, _, let file, let folder)? = error as? DownloadError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, weights.fileName)
            XCTAssertEqual(folder, cache)
        }
    }
}
