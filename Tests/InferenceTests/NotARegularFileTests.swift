import Foundation
import Imaging
import XCTest
@testable import Inference

/// predict on a named pipe: refused at once, with a message saying what it is, never opened
/// for reading (that would wait for a writer forever). Issue 19, item 12.
final class NotARegularFileTests: XCTestCase {
    func testANamedPipeIsRefusedWithoutBlocking() throws {
        let dir = try RawNameFolder("fifo")
        defer { dir.remove() }
        let fifo = dir.root + "/pipe.jpg"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)

        // Decode on another thread: were it to block, the test fails after 10 s instead of hanging
        // (a writer then opens the pipe, so that the blocked reader returns).
        final class Outcome: @unchecked Sendable { var error: Error?; var decoded = false }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do { _ = try ImageDecoder.decode(path: fifo); outcome.decoded = true } catch { outcome.error = error }
            done.signal()
        }
        if done.wait(timeout: .now() + 10) == .timedOut {
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
            _ = done.wait(timeout: .now() + 10)
            return XCTFail("decoding a named pipe blocked")
        }
        XCTAssertFalse(outcome.decoded)
        guard case .notAFile(let path, let what)? = outcome.error as? ImagingError else {
            return XCTFail("expected notAFile, got \(String(describing: outcome.error))")
        }
        XCTAssertEqual(path, fifo)
        XCTAssertTrue(what.contains("named pipe"), what)
        XCTAssertTrue("\(outcome.error!)".contains("not a regular file"), "\(outcome.error!)")
        // The header probe of the scans, too.
        XCTAssertEqual(ImageProbe.problem(path: fifo, size: 1).map { $0.contains("named pipe") }, true)
    }

    func testAFolderIsRefusedAsNotAFile() {
        XCTAssertThrowsError(try ImageDecoder.decode(path: NSTemporaryDirectory())) { error in
            guard case .notAFile? = error as? ImagingError else { return XCTFail("\(error)") }
        }
    }
}
