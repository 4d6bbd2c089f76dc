import TestSupport
import Foundation
import XCTest
@testable import Hub

/// `WeightsResolver.resolve` with a temporary TORCH_HOME and a download closure that counts calls.
final class WeightsResolverTests: XCTestCase {
    private var root = ""
    private var environment: [String: String] = [:]
    private var checkpoints: String { root + "/torch/hub/checkpoints" }

    override func setUpWithError() throws {
        root = Scratch.root
            .appendingPathComponent("graft-hub-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        environment = ["TORCH_HOME": root + "/torch", "HOME": root + "/home"]
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    private final class Downloads {
        var calls: [(url: URL, destination: String, sha256Prefix: String)] = []
    }

    private func resolve(_ argument: String, mirror: String? = nil, offline: Bool = false,
                         downloads: Downloads = Downloads()) throws -> ResolvedWeights {
        try WeightsResolver.resolve(argument, mirror: mirror, offline: offline, environment: environment) {
            url, destination, prefix in
            downloads.calls.append((url, destination, prefix))
            // What a downloader leaves behind: the file, in a folder that exists.
            guard FileManager.default.createFile(atPath: destination, contents: Data("pth".utf8)) else {
                throw CocoaError(.fileWriteUnknown)
            }
        }
    }

    func testAnExistingFileWinsOverAName() throws {
        let cwd = FileManager.default.currentDirectoryPath
        try FileManager.default.createDirectory(atPath: root + "/work", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(root + "/work"))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        XCTAssertTrue(FileManager.default.createFile(atPath: "resnet34", contents: Data("x".utf8)))
        let downloads = Downloads()
        let named = try resolve("resnet34", downloads: downloads)
        XCTAssertEqual(named, ResolvedWeights(path: "resnet34", weights: nil))
        let file = root + "/tutorial/resnet34-pre.pth"
        try FileManager.default.createDirectory(atPath: root + "/tutorial", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        XCTAssertEqual(try resolve(file, downloads: downloads), ResolvedWeights(path: file, weights: nil))
        XCTAssertEqual(downloads.calls.count, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: checkpoints))
    }

    /// A weights entry of the test's own whose file holds `bytes` (torchvision's real files are
    /// not available here, and a cached file must match its name's hash to be used).
    private func entry(_ architecture: String, holding bytes: Data) -> TorchvisionWeights {
        let sha = SHA256Digest.hex(bytes)
        return TorchvisionWeights(architecture: architecture, version: "IMAGENET1K_V1", enumName: "Test_Weights",
                                  url: "https://download.pytorch.org/models/\(architecture)-\(sha.prefix(8)).pth",
                                  fileName: "\(architecture)-\(sha.prefix(8)).pth", sha256Prefix: String(sha.prefix(8)),
                                  fileSizeMB: 0, resize: 256, crop: 224, interpolation: .bilinear, isDefault: true)
    }

    private func resolve(_ argument: String, registry: [TorchvisionWeights], offline: Bool = false,
                         downloads: Downloads) throws -> ResolvedWeights {
        try WeightsResolver.resolve(argument, mirror: nil, offline: offline, environment: environment, registry: registry) {
            url, destination, prefix in
            downloads.calls.append((url, destination, prefix))
            try Data("pth".utf8).write(to: URL(fileURLWithPath: destination))
        }
    }

    func testACacheHitDownloadsNothingEvenOffline() throws {
        let x = entry("resnet34", holding: Data("x".utf8))
        try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
        let cached = checkpoints + "/" + x.fileName
        XCTAssertTrue(FileManager.default.createFile(atPath: cached, contents: Data("x".utf8)))
        let downloads = Downloads()
        let resolved = try resolve("resnet34", registry: [x], downloads: downloads)
        XCTAssertEqual(resolved.path, cached)
        XCTAssertEqual(resolved.weights?.name, "resnet34:IMAGENET1K_V1")
        XCTAssertEqual(try resolve("resnet34:IMAGENET1K_V1", registry: [x], offline: true, downloads: downloads).path, cached)
        environment["GRAFT_OFFLINE"] = "1"
        XCTAssertEqual(try resolve("resnet34", registry: [x], downloads: downloads).path, cached)
        XCTAssertEqual(downloads.calls.count, 0)
    }

    func testACacheMissDownloadsIntoACreatedCacheFolder() throws {
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/torch"))
        let downloads = Downloads()
        let resolved = try resolve("resnet50:IMAGENET1K_V2", downloads: downloads)
        XCTAssertEqual(resolved.path, checkpoints + "/resnet50-11ad3fa6.pth")
        XCTAssertEqual(resolved.weights?.resize, 232)
        XCTAssertEqual(downloads.calls.count, 1)
        XCTAssertEqual(downloads.calls.first?.url.absoluteString,
                       "https://download.pytorch.org/models/resnet50-11ad3fa6.pth")
        XCTAssertEqual(downloads.calls.first?.destination, resolved.path)
        XCTAssertEqual(downloads.calls.first?.sha256Prefix, "11ad3fa6")
        // The next time it is a cache hit, when the file matches its name's hash.
        let pth = entry("tiny", holding: Data("pth".utf8))
        let first = try resolve("tiny", registry: [pth], downloads: downloads)
        XCTAssertEqual(downloads.calls.count, 2)
        XCTAssertEqual(try resolve("tiny", registry: [pth], downloads: downloads).path, first.path)
        XCTAssertEqual(downloads.calls.count, 2)
    }

    func testACacheFolderThatCannotBeCreatedSaysSoInGraftsWords() throws {
        // A file where the folder should be.
        XCTAssertTrue(FileManager.default.createFile(atPath: root + "/torch", contents: Data("not a folder".utf8)))
        XCTAssertThrowsError(try resolve("resnet18")) { error in
            XCTAssertEqual(error as? DownloadError, .folderNotWritable(folder: checkpoints,
                                                                       reason: "\(root)/torch exists and is not a folder"))
            for raw in ["Error Domain", "NSCocoaErrorDomain", "Code=", "The operation could not be completed"] {
                XCTAssertFalse("\(error)".contains(raw), "Foundation's words in: \(error)")
            }
        }
    }

    func testOfflineNamesTheFileTheFolderAndTheURL() throws {
        for useEnvironment in [false, true] {
            if useEnvironment { environment["GRAFT_OFFLINE"] = "1" }
            let downloads = Downloads()
            XCTAssertThrowsError(try resolve("resnet18", offline: !useEnvironment, downloads: downloads)) { error in
                XCTAssertEqual(error as? HubError, .offline(
                    file: "resnet18-f37072fd.pth", url: "https://download.pytorch.org/models/resnet18-f37072fd.pth",
                    folder: checkpoints))
                let message = "\(error)"
                XCTAssertTrue(message.contains("curl -L -o '\(checkpoints)/resnet18-f37072fd.pth' "
                    + "'https://download.pytorch.org/models/resnet18-f37072fd.pth'"), message)
                XCTAssertTrue(message.contains("--offline"), message)
            }
            XCTAssertEqual(downloads.calls.count, 0)
            XCTAssertFalse(FileManager.default.fileExists(atPath: checkpoints))
        }
        // GRAFT_OFFLINE other than "1" leaves the network on.
        environment["GRAFT_OFFLINE"] = "0"
        let downloads = Downloads()
        _ = try resolve("resnet18", downloads: downloads)
        XCTAssertEqual(downloads.calls.count, 1)
    }

    func testAMirrorReplacesHostAndPathPrefix() throws {
        let downloads = Downloads()
        _ = try resolve("resnet152:IMAGENET1K_V2", mirror: "http://127.0.0.1:8000/models/", downloads: downloads)
        XCTAssertEqual(downloads.calls.last?.url.absoluteString, "http://127.0.0.1:8000/models/resnet152-f82ba261.pth")
        environment["GRAFT_WEIGHTS_MIRROR"] = "https://mirror.example/torch"
        _ = try resolve("resnext50_32x4d:IMAGENET1K_V1", downloads: downloads)
        XCTAssertEqual(downloads.calls.last?.url.absoluteString,
                       "https://mirror.example/torch/resnext50_32x4d-7cdf4587.pth")
        // The argument wins over the environment; offline messages show the mirror's URL.
        XCTAssertThrowsError(try resolve("wide_resnet50_2", mirror: "http://local/m", offline: true)) { error in
            guard case let HubError.offline(file, url, _)? = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertEqual(url, "http://local/m/" + file)
        }
        XCTAssertEqual(downloads.calls.count, 2)
    }

    func testNeitherFileNorName() throws {
        XCTAssertThrowsError(try resolve("resnet35")) { error in
            guard case let HubError.unknownWeights(name, known)? = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertEqual(name, "resnet35")
            XCTAssertEqual(known, TorchvisionWeights.knownNames)
            XCTAssertTrue("\(error)".contains("resnet34, resnet34:IMAGENET1K_V1"), "\(error)")
        }
        for path in [root + "/missing/resnet34-pre.pth", "resnet34-pre.pth", "model.pt", "dir/resnet34"] {
            XCTAssertThrowsError(try resolve(path)) { error in
                XCTAssertEqual(error as? HubError, .noSuchFile(path: path, known: TorchvisionWeights.knownNames))
                XCTAssertTrue("\(error)".contains("There is no file at \(path)"), "\(error)")
                XCTAssertTrue("\(error)".contains("resnet50:IMAGENET1K_V2"), "\(error)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: checkpoints))
    }
}
