import XCTest
@testable import Hub
import Synchronization

final class DownloadProgressTests: XCTestCase {
    func testBarReadsLikeTheExample() {
        let s = DownloadStatus(fileName: "resnet34-b627a593.pth", bytesSoFar: 45_200_000, totalBytes: 87_300_000,
                               bytesPerSecond: 12_100_000, etaSeconds: 3.5)
        XCTAssertEqual(DownloadProgress.bar(s),
                       "resnet34-b627a593.pth [##########----------]  45.2 MB / 87.3 MB  12.1 MB/s  ETA 0:04")
    }

    func testBarWithoutTotalAndWhenDone() {
        let open = DownloadStatus(fileName: "a.pth", bytesSoFar: 1_500, totalBytes: nil, bytesPerSecond: 999, etaSeconds: nil)
        XCTAssertEqual(DownloadProgress.bar(open), "a.pth  1.5 kB  999 B/s")
        let done = DownloadStatus(fileName: "a.pth", bytesSoFar: 2_000_000, totalBytes: 2_000_000,
                                  bytesPerSecond: 1_000_000, etaSeconds: 0, finished: true)
        XCTAssertEqual(DownloadProgress.bar(done), "a.pth [####################]  2.0 MB / 2.0 MB  1.0 MB/s  done")
    }

    func testUnitsAndDurations() {
        XCTAssertEqual(DownloadProgress.bytes(512), "512 B")
        XCTAssertEqual(DownloadProgress.bytes(87_319_819), "87.3 MB")
        XCTAssertEqual(DownloadProgress.bytes(1_234_567_890), "1.23 GB")
        XCTAssertEqual(DownloadProgress.duration(4), "0:04")
        XCTAssertEqual(DownloadProgress.duration(750), "12:30")
        XCTAssertEqual(DownloadProgress.duration(3725), "1:02:05")
        XCTAssertEqual(DownloadProgress.duration(.infinity), "?")
    }

    func testPlainLinesComeOnceEveryTenthAndAtTheEnd() {
        var printed: DownloadStatus? = nil
        var lines: [String] = []
        for percent in 1...99 {
            let s = DownloadStatus(fileName: "a.pth", bytesSoFar: Int64(percent) * 1000, totalBytes: 100_000,
                                   bytesPerSecond: 1000, etaSeconds: Double(100 - percent))
            if let line = DownloadProgress.plainLine(s, after: printed) {
                lines.append(line)
                printed = s
            }
        }
        let end = DownloadStatus(fileName: "a.pth", bytesSoFar: 100_000, totalBytes: 100_000,
                                 bytesPerSecond: 1000, etaSeconds: 0, finished: true)
        if let line = DownloadProgress.plainLine(end, after: printed) { lines.append(line) }
        XCTAssertEqual(lines.count, 10, lines.joined(separator: "\n"))
        XCTAssertEqual(lines.first, "a.pth: 10%  10.0 kB / 100.0 kB  1.0 kB/s  ETA 1:30")
        for (i, line) in lines.dropLast().enumerated() { XCTAssertTrue(line.contains(": \((i + 1) * 10)%"), line) }
        XCTAssertEqual(lines.last, "a.pth: done, 100.0 kB (1.0 kB/s)")
    }

    func testTerminalReporterRedrawsInPlaceAndEndsTheLine() {
        let out = Mutex<[String]>([])
        let report = DownloadProgress.reporter(terminal: true) { text in out.withLock { $0.append(text) } }
        report(DownloadStatus(fileName: "a.pth", bytesSoFar: 10, totalBytes: 100, bytesPerSecond: 10, etaSeconds: 9))
        report(DownloadStatus(fileName: "a.pth", bytesSoFar: 100, totalBytes: 100, bytesPerSecond: 10, etaSeconds: 0,
                              finished: true))
        let texts = out.withLock { $0 }
        XCTAssertEqual(texts.count, 2)
        XCTAssertTrue(texts.allSatisfy { $0.hasPrefix("\r") })
        XCTAssertFalse(texts[0].hasSuffix("\n"))
        XCTAssertTrue(texts[1].hasSuffix("\n"))
        // The longer first line ("ETA 0:09" vs "done") is blanked out by padding.
        XCTAssertEqual(texts[1].count - 1, texts[0].count)
    }
}
