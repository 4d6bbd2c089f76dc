import TestSupport
import Crypto
import Foundation
import XCTest
@testable import Hub

/// Named weights through `--weights-mirror` to serve.py on loopback, with the real Downloader:
/// a cache hit makes no request, a missing file is fetched from the mirror's path, a file whose
/// bytes do not match its name's hash is deleted, offline makes no request.
enum SHA256Digest {
    static func hex(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }
}

final class MirrorTests: XCTestCase {
    private var dir: URL!
    private var server: LoopbackServer?
    private let weights = TorchvisionWeights.all.first { $0.architecture == "resnet18" }!

    override func setUpWithError() throws {
        dir = Scratch.root.appendingPathComponent("MirrorTests-\(UUID().uuidString)")
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
        // A file in the cache is used when its SHA-256 matches its name (a weights entry of the
        // test's own: torchvision's files are not available offline).
        let bytes = Data([1])
        let sha = SHA256Digest.hex(bytes)
        let one = TorchvisionWeights(architecture: "one", version: "IMAGENET1K_V1", enumName: "One_Weights",
                                     url: "https://download.pytorch.org/models/one-\(sha.prefix(8)).pth",
                                     fileName: "one-\(sha.prefix(8)).pth", sha256Prefix: String(sha.prefix(8)), fileSizeMB: 0,
                                     resize: 256, crop: 224, interpolation: .bilinear, isDefault: true)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: cache + "/" + one.fileName, contents: bytes))
        let mirror = try XCTUnwrap(server).url("/mirror/models/").absoluteString
        for offline in [false, true] {
            let hit = try WeightsResolver.resolve("one", mirror: mirror, offline: offline, environment: environment,
                                                  registry: [one]) { url, destination, prefix in
                try Downloader().download(from: url, to: destination, sha256Prefix: prefix)
            }
            XCTAssertEqual(hit.path, cache + "/" + one.fileName)
            XCTAssertEqual(hit.weights, one)
        }
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

    /// A weights entry of the test's own whose bytes the server has (torchvision's files are
    /// not available offline): a first download through the mirror, then a cache hit with no
    /// request, and an interrupted download resumed with Range, all through `--weights-mirror`.
    func testFirstDownloadCacheHitAndResumeThroughTheMirror() throws {
        let payload = Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) })
        let sha = SHA256Digest.hex(payload)
        let fileName = "tiny-\(sha.prefix(8)).pth"
        try payload.write(to: dir.appendingPathComponent("root/mirror/models/\(fileName)"))
        let tiny = TorchvisionWeights(architecture: "tiny", version: "IMAGENET1K_V1", enumName: "Tiny_Weights",
                                      url: "https://download.pytorch.org/models/\(fileName)", fileName: fileName,
                                      sha256Prefix: String(sha.prefix(8)), fileSizeMB: 0.2, resize: 256, crop: 224,
                                      interpolation: .bilinear, isDefault: true)
        // The first request of the file is cut after 50 kB.
        server?.stop()
        server = try LoopbackServer(root: dir.appendingPathComponent("root"), log: dir.appendingPathComponent("requests2.log"),
                                    cuts: ["/mirror/models/\(fileName)": 50_000])
        let mirror = try XCTUnwrap(server).url("/mirror/models").absoluteString
        func resolve() throws -> ResolvedWeights {
            try WeightsResolver.resolve("tiny", mirror: mirror, offline: false, environment: environment, registry: [tiny]) {
                url, destination, prefix in try Downloader().download(from: url, to: destination, sha256Prefix: prefix)
            }
        }
        XCTAssertThrowsError(try resolve()) { XCTAssertTrue("\($0)".contains("resumes"), "\($0)") }
        let resolved = try resolve()
        XCTAssertEqual(resolved.path, cache + "/" + fileName)
        XCTAssertEqual(FileManager.default.contents(atPath: resolved.path), payload, "the mirror's bytes, whole")
        let requests = server?.requests() ?? []
        XCTAssertEqual(requests.count, 2, "\(requests)")
        XCTAssertTrue(requests.last?.contains("range=bytes=") ?? false, "resumed with Range: \(requests)")
        XCTAssertEqual(try resolve().path, resolved.path)
        XCTAssertEqual(server?.requests().count, 2, "a cache hit: no request")
    }
}
