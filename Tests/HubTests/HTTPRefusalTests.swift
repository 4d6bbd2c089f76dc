import Foundation
import XCTest
@testable import Hub

/// Servers that answer with something other than the file: every such answer ends the download
/// at once (no hang, no file left behind) with what the server said, in Graft's words.
final class HTTPRefusalTests: XCTestCase {
    private var f: HubFixture!

    override func setUpWithError() throws { f = try HubFixture() }
    override func tearDown() { f.tearDown() }

    /// The download's error, or a failure when it takes more than 5 s (the downloader's own
    /// timeout is 10 s: an answer must end it at once, not a timeout).
    private func error(from url: URL, timeout: TimeInterval = 10, file: StaticString = #filePath,
                       line: UInt = #line) -> DownloadError? {
        let destination = f.destination
        let prefix = String(f.sha.prefix(8))
        guard let result = HubFixture.finishing(within: 5, {
            try Downloader(timeout: timeout).download(from: url, to: destination, sha256Prefix: prefix)
        }) else {
            XCTFail("the download of \(url) did not end within 5 s", file: file, line: line)
            return nil
        }
        guard case .failure(let e) = result else {
            XCTFail("the download of \(url) succeeded", file: file, line: line)
            return nil
        }
        guard let d = e as? DownloadError else {
            XCTFail("not a DownloadError: \(e)", file: file, line: line)
            return nil
        }
        for raw in ["Error Domain", "NSURLErrorDomain", "NSCocoaErrorDomain", "Code=", "The operation could not be completed"] {
            XCTAssertFalse("\(d)".contains(raw), "Foundation's words in: \(d)", file: file, line: line)
        }
        return d
    }

    func test401WithWWWAuthenticateEndsAtOnceAndSaysWhatTheServerAsked() throws {
        let s = try f.start(statuses: [f.path: 401], headers: [f.path: ["WWW-Authenticate:Basic realm=\"graft-test\""]])
        guard let e = error(from: s.url(f.path)) else { return }
        guard case .authenticationRequired(401, _, _, _, _) = e else { return XCTFail("\(e)") }
        for part in ["401", "Unauthorized", "Basic realm=\"graft-test\"", f.path, f.fileName, f.cache.path] {
            XCTAssertTrue("\(e)".contains(part), "'\(part)' missing from: \(e)")
        }
        XCTAssertEqual(f.cacheListing(), [], "nothing is left in the cache")
    }

    func test407And403EndAtOnce() throws {
        let s = try f.start(statuses: ["/proxy/\(f.fileName)": 407, "/forbidden/\(f.fileName)": 403],
                            headers: ["/proxy/\(f.fileName)": ["Proxy-Authenticate:Basic realm=\"proxy\""]])
        if let e = error(from: s.url("/proxy/\(f.fileName)")) {
            guard case .authenticationRequired(407, _, _, _, _) = e else { return XCTFail("\(e)") }
            XCTAssertTrue("\(e)".contains("proxy"), "\(e)")
        }
        if let e = error(from: s.url("/forbidden/\(f.fileName)")) {
            guard case .httpStatus(403, _, _, _) = e else { return XCTFail("\(e)") }
            XCTAssertTrue("\(e)".contains("403 Forbidden"), "\(e)")
        }
        XCTAssertEqual(f.cacheListing(), [])
    }

    func testARedirectToAnotherSchemeIsRefusedAndSaysWhere() throws {
        let toFile = "/to-file/\(f.fileName)", toFTP = "/to-ftp/\(f.fileName)"
        let s = try f.start(statuses: [toFile: 302, toFTP: 301],
                            headers: [toFile: ["Location:file:///etc/passwd"], toFTP: ["Location:ftp://127.0.0.1/x.pth"]])
        for (path, location) in [(toFile, "file:///etc/passwd"), (toFTP, "ftp://127.0.0.1/x.pth")] {
            guard let e = error(from: s.url(path)) else { continue }
            guard case .redirectRefused(_, location, _, _) = e else { XCTFail("\(e)"); continue }
            XCTAssertTrue("\(e)".contains("redirected to \(location)"), "\(e)")
            XCTAssertTrue("\(e)".contains("does not follow"), "\(e)")
            XCTAssertFalse("\(e)".contains("404 Not Found") || "\(e)".contains("HTTP 404"), "\(e)")  // not the path: a temporary folder's name can hold "404"
        }
        XCTAssertEqual(f.cacheListing(), [])
    }

    func testAStallSaysHowLongNoDataCame() throws {
        let s = try f.start(stalls: [f.path: 5_000, "/silent/\(f.fileName)": 0])
        // Some bytes, then silence: the partial file is kept for a resume.
        if let e = error(from: s.url(f.path), timeout: 1) {
            guard case .interrupted(_, let reason, 5_000, _) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(reason.contains("no data arrived for 1 second"), reason)
        }
        // Headers, then silence.
        try FileManager.default.createDirectory(at: f.dir.appendingPathComponent("root/silent"), withIntermediateDirectories: true)
        try f.payload.write(to: f.dir.appendingPathComponent("root/silent/\(f.fileName)"))
        let other = f.cache.appendingPathComponent("elsewhere").path
        guard let result = HubFixture.finishing(within: 5, { [prefix = String(f.sha.prefix(8)), url = s.url("/silent/\(f.fileName)")] in
            try Downloader(timeout: 1).download(from: url, to: other + "/" + "x-\(prefix).pth", sha256Prefix: prefix)
        }) else { return XCTFail("a stall before any byte did not end within 5 s") }
        guard case .failure(let e) = result, case DownloadError.unreachable(_, let reason, _, _)? = e as? DownloadError else {
            return XCTFail("\(result)")
        }
        XCTAssertTrue(reason.contains("no data arrived for 1 second"), reason)
    }

    func testConnectionRefusedInGraftsWords() throws {
        guard let port = LoopbackServer.closedPort() else { throw XCTSkip("cannot bind a loopback socket") }
        let url = URL(string: "http://127.0.0.1:\(port)/models/\(f.fileName)")!
        guard let e = error(from: url) else { return }
        guard case .unreachable = e else { return XCTFail("\(e)") }
        XCTAssertTrue("\(e)".contains("127.0.0.1:\(port)"), "\(e)")
    }
}
