import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest
@testable import Hub

/// What is already at the partial file's name in a shared cache is never written through: a
/// symbolic link, a hard link, another user's file or a FIFO is left alone (a link is removed,
/// never its target) and the download goes to a file of its own.
final class TemporaryFileTests: XCTestCase {
    private var f: HubFixture!

    override func setUpWithError() throws { f = try HubFixture() }
    override func tearDown() { f.tearDown() }

    private func download(_ s: LoopbackServer, file: StaticString = #filePath, line: UInt = #line) {
        let (url, destination, prefix) = (s.url(f.path), f.destination, String(f.sha.prefix(8)))
        guard let result = HubFixture.finishing(within: 5, {
            try Downloader(timeout: 5).download(from: url, to: destination, sha256Prefix: prefix)
        }) else { return XCTFail("the download did not end within 5 s", file: file, line: line) }
        if case .failure(let e) = result { XCTFail("\(e)", file: file, line: line) }
        XCTAssertEqual(FileManager.default.contents(atPath: destination), f.payload, file: file, line: line)
    }

    private var victim: String { f.dir.appendingPathComponent("victim.txt").path }
    private let precious = Data("precious bytes, not Graft's\n".utf8)

    func testASymbolicLinkAtThePartialNameIsRemovedNotFollowed() throws {
        let s = try f.start()
        try f.makeCache()
        try precious.write(to: URL(fileURLWithPath: victim))
        XCTAssertEqual(symlink(victim, f.partial), 0)
        download(s)
        XCTAssertEqual(FileManager.default.contents(atPath: victim), precious, "the link's target was written")
        XCTAssertEqual(f.cacheListing(), [f.fileName])
    }

    func testADanglingLinkAtThePartialNameCreatesNothingAtItsTarget() throws {
        let s = try f.start()
        try f.makeCache()
        let target = f.dir.appendingPathComponent("created-through-the-link").path
        XCTAssertEqual(symlink(target, f.partial), 0)
        download(s)
        XCTAssertFalse(FileManager.default.fileExists(atPath: target), "a file was created through the link")
        XCTAssertEqual(f.cacheListing(), [f.fileName])
    }

    func testAHardLinkAtThePartialNameIsNotWrittenThrough() throws {
        let s = try f.start()
        try f.makeCache()
        try precious.write(to: URL(fileURLWithPath: victim))
        XCTAssertEqual(link(victim, f.partial), 0)
        download(s)
        XCTAssertEqual(FileManager.default.contents(atPath: victim), precious, "the hard link's file was written")
        XCTAssertEqual(s.requests(), ["GET \(f.path) range=-"], "resumed from a file that is not the download's own")
    }

    func testAFIFOAtThePartialNameDoesNotHang() throws {
        let s = try f.start()
        try f.makeCache()
        XCTAssertEqual(mkfifo(f.partial, 0o644), 0)
        download(s)
        XCTAssertEqual(s.requests(), ["GET \(f.path) range=-"])
    }

    func testAnotherUsersPartialFileIsNeitherResumedNorTouched() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root to give a file to another user") }
        let s = try f.start()
        try f.makeCache()
        let theirs = f.payload.prefix(5_000)
        try theirs.write(to: URL(fileURLWithPath: f.partial))
        XCTAssertEqual(chown(f.partial, 65_534, 65_534), 0)
        download(s)
        XCTAssertEqual(s.requests(), ["GET \(f.path) range=-"], "resumed from another user's file")
        XCTAssertEqual(FileManager.default.contents(atPath: f.partial), theirs, "another user's file was written")
        XCTAssertEqual(f.cacheListing(), [f.partial, f.destination].map { ($0 as NSString).lastPathComponent }.sorted(),
                       "a temporary file was left behind")
    }
}
