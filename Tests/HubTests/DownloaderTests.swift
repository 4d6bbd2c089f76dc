import TestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import XCTest
@testable import Hub

/// Downloader against serve.py on loopback, with a 300 kB payload named like torchvision's files.
final class DownloaderTests: XCTestCase {
    private var dir: URL!
    private var server: LoopbackServer?

    private static let size = 300_000
    /// Deterministic bytes (a 32-bit LCG's high bytes).
    private static let payload: Data = {
        var x: UInt32 = 20_260_101
        return Data((0..<size).map { _ in
            x = x &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: x >> 24)
        })
    }()

    private var sha = ""
    private var fileName = ""
    private var cache: URL { dir.appendingPathComponent("cache/hub/checkpoints") }
    private var destination: String { cache.appendingPathComponent(fileName).path }
    private var partial: String { Downloader.partialPath(for: destination) }

    override func setUpWithError() throws {
        dir = Scratch.root.appendingPathComponent("HubTests-\(UUID().uuidString)")
        let models = dir.appendingPathComponent("root/models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        let raw = models.appendingPathComponent("payload.bin")
        try Self.payload.write(to: raw)
        sha = try Self.pythonSHA256(raw.path)
        fileName = "tiny-\(sha.prefix(8)).pth"
        try FileManager.default.moveItem(at: raw, to: models.appendingPathComponent(fileName))
    }

    override func tearDown() {
        server?.stop()
        server = nil
        try? FileManager.default.removeItem(at: dir)
    }

    /// SHA-256 by Python's hashlib, not by the code under test.
    private static func pythonSHA256(_ path: String) throws -> String {
        guard let python = LoopbackServer.python3() else {
            throw XCTSkip("python3 is not on PATH: these tests need it for the loopback HTTP server")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func start(cuts: [String: Int] = [:], ignoreRange: Bool = false) throws -> LoopbackServer {
        let s = try LoopbackServer(root: dir.appendingPathComponent("root"), log: dir.appendingPathComponent("requests.log"),
                                   cuts: cuts, ignoreRange: ignoreRange)
        server = s
        return s
    }

    private var path: String { "/models/\(fileName)" }

    private func download(_ url: URL, prefix: String? = nil,
                          statuses: Statuses? = nil) throws {
        var progress: (@Sendable (DownloadStatus) -> Void)? = nil
        if let statuses { progress = { statuses.add($0) } }
        let downloader = Downloader(progress: progress, timeout: 10)
        try downloader.download(from: url, to: destination, sha256Prefix: prefix ?? String(sha.prefix(8)))
    }

    private func assertFinalFileIsThePayload(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(FileManager.default.contents(atPath: destination), Self.payload, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial), "partial file left behind", file: file, line: line)
    }

    func testFirstDownload() throws {
        let s = try start()
        let statuses = Statuses()
        try download(s.url(path), statuses: statuses)
        assertFinalFileIsThePayload()
        XCTAssertEqual(s.requests(), ["GET \(path) range=-"])
        let last = statuses.last
        XCTAssertEqual(last?.finished, true)
        XCTAssertEqual(last?.bytesSoFar, Int64(Self.size))
        XCTAssertEqual(last?.totalBytes, Int64(Self.size))
        XCTAssertEqual(last?.fileName, fileName)
    }

    func testInterruptedDownloadKeepsThePartialAndResumesWithRange() throws {
        let s = try start(cuts: [path: 100_000])
        XCTAssertThrowsError(try download(s.url(path))) { error in
            guard case DownloadError.interrupted = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("resumes"), "\(error)")
            XCTAssertTrue("\(error)".contains(partial), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination))
        let kept = (try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? Int) ?? 0
        XCTAssertGreaterThan(kept, 0)
        XCTAssertLessThan(kept, Self.size)
        XCTAssertEqual(FileManager.default.contents(atPath: partial), Self.payload.prefix(kept))

        let statuses = Statuses()
        try download(s.url(path), statuses: statuses)
        assertFinalFileIsThePayload()
        XCTAssertEqual(s.requests(), ["GET \(path) range=-", "GET \(path) range=bytes=\(kept)-"])
        XCTAssertEqual(statuses.last?.resumedFrom, Int64(kept))
    }

    func testHashMismatchDeletesTheFileAndSaysSo() throws {
        let s = try start()
        let wrong = (sha.hasPrefix("0") ? "1" : "0") + sha.dropFirst().prefix(7)
        XCTAssertThrowsError(try download(s.url(path), prefix: String(wrong))) { error in
            guard case DownloadError.hashMismatch = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("deleted"), "\(error)")
            XCTAssertTrue("\(error)".contains("nothing was used"), "\(error)")
            XCTAssertTrue("\(error)".contains(sha), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination))
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial))
    }

    func testNotFoundNamesTheURLTheFileAndTheFolder() throws {
        let s = try start()
        let url = s.url("/mirror/models/\(fileName)")
        XCTAssertThrowsError(try download(url)) { error in
            XCTAssertEqual(error as? DownloadError,
                           .httpStatus(code: 404, url: url.absoluteString, fileName: fileName, folder: cache.path))
            for part in ["404", url.absoluteString, fileName, cache.path] {
                XCTAssertTrue("\(error)".contains(part), "'\(part)' missing from: \(error)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination))
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial))
    }

    func testServerIgnoringRangeStartsOver() throws {
        let s = try start(ignoreRange: true)
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        // A partial file whose bytes are wrong: only a fresh start gives the right file.
        try Data(repeating: 0xAB, count: 100_000).write(to: URL(fileURLWithPath: partial))
        try download(s.url(path))
        assertFinalFileIsThePayload()
        XCTAssertEqual(s.requests(), ["GET \(path) range=bytes=100000-"])
    }

    func testCompletePartialFileIsUsedAfter416() throws {
        let s = try start()
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        try Self.payload.write(to: URL(fileURLWithPath: partial))
        try download(s.url(path))
        assertFinalFileIsThePayload()
        XCTAssertEqual(s.requests(), ["GET \(path) range=bytes=\(Self.size)-"])
    }

    func testBadFullLengthPartialFileStartsOverAfter416() throws {
        let s = try start()
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        try Data(repeating: 0x5A, count: Self.size).write(to: URL(fileURLWithPath: partial))
        try download(s.url(path))
        assertFinalFileIsThePayload()
        XCTAssertEqual(s.requests(), ["GET \(path) range=bytes=\(Self.size)-", "GET \(path) range=-"])
    }

    func testConnectionRefused() throws {
        guard let port = LoopbackServer.closedPort() else { throw XCTSkip("cannot bind a loopback socket") }
        let url = URL(string: "http://127.0.0.1:\(port)/models/\(fileName)")!
        XCTAssertThrowsError(try download(url)) { error in
            guard case DownloadError.unreachable = error else { return XCTFail("\(error)") }
            for part in [url.absoluteString, fileName, cache.path] {
                XCTAssertTrue("\(error)".contains(part), "'\(part)' missing from: \(error)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination))
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial))
    }

    /// Opt-in (it needs a small file system, e.g. `mount -t tmpfs -o size=128k tmpfs /tmp/smallfs`):
    /// GRAFT_TEST_SMALL_FS names a folder with less than 300 kB free.
    func testDiskFullRemovesThePartialFile() throws {
        guard let small = ProcessInfo.processInfo.environment["GRAFT_TEST_SMALL_FS"] else {
            throw XCTSkip("set GRAFT_TEST_SMALL_FS to a folder on a file system with < 300 kB free to test a full disk")
        }
        let s = try start()
        let folder = URL(fileURLWithPath: small).appendingPathComponent("HubTests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let target = folder.appendingPathComponent(fileName).path
        let downloader = Downloader(timeout: 10)
        XCTAssertThrowsError(try downloader.download(from: s.url(path), to: target, sha256Prefix: String(sha.prefix(8)))) { error in
            guard case DownloadError.writeFailed(_, _, true, true) = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("disk is full"), "\(error)")
            XCTAssertTrue("\(error)".contains("removed"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: Downloader.partialPath(for: target)))
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))
    }

    func testSecondDownloadOfTheSameFileAtOnceFailsFast() throws {
        let s = try start()
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        let fd = open(partial, O_WRONLY | O_CREAT, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        // flock locks belong to the open file description: this one stands for another process.
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        XCTAssertThrowsError(try download(s.url(path))) { error in
            XCTAssertEqual(error as? DownloadError, .busy(partialPath: partial))
        }
        XCTAssertEqual(s.requests(), [])
        XCTAssertTrue(FileManager.default.fileExists(atPath: partial), "the other download's partial file was removed")
    }

    func testUnwritableFolderFailsBeforeAnyRequest() throws {
        let s = try start()
        // A regular file where the folder should be: nothing can be created under it.
        let blocker = dir.appendingPathComponent("cache")
        try Data("not a folder".utf8).write(to: blocker)
        XCTAssertThrowsError(try download(s.url(path))) { error in
            XCTAssertEqual(error as? DownloadError, .folderNotWritable(
                folder: cache.path, reason: "\(blocker.path) exists and is not a folder"))
            XCTAssertTrue("\(error)".contains("nothing was downloaded"), "\(error)")
        }
        XCTAssertEqual(s.requests(), [])
    }
}

/// The progress reports of one download.
final class Statuses: Sendable {
    private let all = Mutex<[DownloadStatus]>([])
    func add(_ s: DownloadStatus) { all.withLock { $0.append(s) } }
    var last: DownloadStatus? { all.withLock { $0.last } }
}
