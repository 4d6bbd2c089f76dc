import TestSupport
import Foundation
import XCTest
@testable import Hub

/// A temporary folder with a small payload served by serve.py at `/models/<fileName>` (named
/// like torchvision's files: `tiny-<8 hex of its SHA-256>.pth`), and a cache folder to download
/// it into. The tests of hostile servers and hostile caches share it.
final class HubFixture {
    let dir: URL
    let payload: Data
    let sha: String
    let fileName: String
    private(set) var server: LoopbackServer?

    init(size: Int = 100_000) throws {
        dir = Scratch.root.appendingPathComponent("HubFixture-\(UUID().uuidString)")
        payload = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 7) })
        sha = SHA256Digest.hex(payload)
        fileName = "tiny-\(sha.prefix(8)).pth"
        let models = dir.appendingPathComponent("root/models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try payload.write(to: models.appendingPathComponent(fileName))
    }

    var cache: URL { dir.appendingPathComponent("torch/hub/checkpoints") }
    var destination: String { cache.appendingPathComponent(fileName).path }
    var partial: String { Downloader.partialPath(for: destination) }
    var path: String { "/models/\(fileName)" }

    /// A registry entry for the payload (so that `WeightsResolver` can fetch it by the name "tiny").
    var weights: TorchvisionWeights {
        TorchvisionWeights(architecture: "tiny", version: "IMAGENET1K_V1", enumName: "Tiny_Weights",
                           url: "https://download.pytorch.org/models/\(fileName)", fileName: fileName,
                           sha256Prefix: String(sha.prefix(8)), fileSizeMB: 0.1, resize: 256, crop: 224,
                           interpolation: .bilinear, isDefault: true)
    }

    @discardableResult
    func start(statuses: [String: Int] = [:], headers: [String: [String]] = [:], stalls: [String: Int] = [:],
               ignoreRange: Bool = false) throws -> LoopbackServer {
        let s = try LoopbackServer(root: dir.appendingPathComponent("root"), log: dir.appendingPathComponent("requests.log"),
                                   ignoreRange: ignoreRange, statuses: statuses, headers: headers, stalls: stalls)
        server = s
        return s
    }

    func makeCache() throws {
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
    }

    /// The names in the cache folder, sorted.
    func cacheListing() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? []).sorted()
    }

    func tearDown() {
        server?.stop()
        server = nil
        try? FileManager.default.removeItem(at: dir)
    }

    /// Runs `body` on another thread and waits at most `seconds` for it: nil when it has not
    /// returned by then (a hang; the thread is left behind), else what it returned or threw.
    static func finishing<T: Sendable>(within seconds: Double, _ body: @escaping @Sendable () throws -> T) -> Result<T, Error>? {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.set(Result { try body() })
            done.signal()
        }
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return box.get()
    }
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, Error>?
    func set(_ v: Result<T, Error>) { lock.lock(); value = v; lock.unlock() }
    func get() -> Result<T, Error>? { lock.lock(); defer { lock.unlock() }; return value }
}
