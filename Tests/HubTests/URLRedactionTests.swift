import Foundation
import XCTest
@testable import Hub

/// Credentials in a mirror URL never reach a message.
final class URLRedactionTests: XCTestCase {
    func testUserInfoIsHidden() {
        XCTAssertEqual(URLRedaction.redact("http://user:secret@host/models/x.pth"), "http://user:***@host/models/x.pth")
        XCTAssertEqual(URLRedaction.redact("https://ghp_token123@host:8443/m"), "https://***@host:8443/m")
        XCTAssertEqual(URLRedaction.redact("https://user:p%40ss@host"), "https://user:***@host")
        XCTAssertEqual(URLRedaction.redact("https://host/a@b/c?x=y@z"), "https://host/a@b/c?x=y@z")
        XCTAssertEqual(URLRedaction.redact("Could not download http://a:b@h/x or ftp://c:d@e/f."),
                       "Could not download http://a:***@h/x or ftp://c:***@e/f.")
        XCTAssertEqual(URLRedaction.redact("https://download.pytorch.org/models/resnet34-b627a593.pth"),
                       "https://download.pytorch.org/models/resnet34-b627a593.pth")
        // A password with '@' in it (not percent-encoded): everything up to the last '@' of the authority goes.
        XCTAssertEqual(URLRedaction.redact("http://user:p@ss@host/x"), "http://user:***@host/x")
        let once = URLRedaction.redact("http://user:secret@host/")
        XCTAssertEqual(URLRedaction.redact(once), once)
    }

    func testDownloadErrorsHideTheMirrorsPassword() throws {
        let f = try HubFixture()
        defer { f.tearDown() }
        let s = try f.start()
        let url = URL(string: "http://graft:s3cret@127.0.0.1:\(s.port)/missing/\(f.fileName)")!
        let (destination, prefix) = (f.destination, String(f.sha.prefix(8)))
        guard let result = HubFixture.finishing(within: 5, {
            try Downloader(timeout: 5).download(from: url, to: destination, sha256Prefix: prefix)
        }) else { return XCTFail("the download did not end within 5 s") }
        guard case .failure(let e) = result else { return XCTFail("\(result)") }
        XCTAssertFalse("\(e)".contains("s3cret"), "\(e)")
        XCTAssertTrue("\(e)".contains("http://graft:***@127.0.0.1:\(s.port)/missing/"), "\(e)")
        XCTAssertFalse(String(reflecting: e).contains("s3cret"), String(reflecting: e))
        let said = Downloader.startMessage(url: url, destination: destination)
        XCTAssertFalse(said.contains("s3cret"), said)
        XCTAssertTrue(said.contains(destination), said)
    }

    func testHubErrorsHideTheMirrorsPassword() throws {
        let offline = HubError.offline(file: "resnet18-f37072fd.pth", url: "https://u:s3cret@mirror.example/m/resnet18-f37072fd.pth",
                                       folder: "/cache")
        XCTAssertFalse("\(offline)".contains("s3cret"), "\(offline)")
        XCTAssertTrue("\(offline)".contains("https://u:***@mirror.example/m/resnet18-f37072fd.pth"), "\(offline)")
        let bad = HubError.badMirror(mirror: "http://u:s3cret@bad host", url: "http://u:s3cret@bad host/x.pth")
        XCTAssertFalse("\(bad)".contains("s3cret"), "\(bad)")
    }
}
