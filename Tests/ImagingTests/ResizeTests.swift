import XCTest
@testable import Imaging

final class ResizeTests: XCTestCase {
    func testPillowResizeCases() throws {
        let m = try Fixture.manifest()
        XCTAssertGreaterThanOrEqual(m.resize.count, 10)
        for (i, c) in m.resize.enumerated() {
            let source = try Fixture.decoded(m, c.source)
            let box = c.box.map { ResampleBox(left: $0[0], top: $0[1], right: $0[2], bottom: $0[3]) }
            let out = try source.resized(width: c.width, height: c.height, box: box)
            assertPixels(out, width: c.width, height: c.height, try Fixture.bytes(c.file),
                         "resize case \(i): \(c.width)x\(c.height) box \(c.box ?? [])")
        }
    }

    func testTorchvisionResize32OfEveryFixture() throws {
        let m = try Fixture.manifest()
        for entry in m.images {
            let image = try ImageDecoder.decode(path: Fixture.path(entry.file))
            let out = try image.resized(shorterSide: entry.resized.size)
            assertPixels(out, width: entry.resized.width, height: entry.resized.height,
                         try Fixture.bytes(entry.resized.file), "\(entry.name) Resize(\(entry.resized.size))")
        }
    }

    func testOutputSizeRule() throws {
        let m = try Fixture.manifest()
        for entry in m.images {
            let (w, h) = ShorterSideResize.outputSize(width: entry.width, height: entry.height, shorterSide: 32)
            XCTAssertEqual(w, entry.resized.width, entry.name)
            XCTAssertEqual(h, entry.resized.height, entry.name)
        }
        for f in m.full_eval {
            let entry = try XCTUnwrap(m.images.first { $0.name == f.name })
            let (w, h) = ShorterSideResize.outputSize(width: entry.width, height: entry.height, shorterSide: 256)
            XCTAssertEqual(w, f.resized_width, f.name)
            XCTAssertEqual(h, f.resized_height, f.name)
        }
        // int(256 * 341 / 256) = 341; int(256 * 1000 / 3) = 85333 (truncated, not rounded)
        XCTAssertEqual(ShorterSideResize.outputSize(width: 341, height: 256, shorterSide: 256).width, 341)
        XCTAssertEqual(ShorterSideResize.outputSize(width: 3, height: 1000, shorterSide: 256).height, 85333)
        XCTAssertEqual(ShorterSideResize.outputSize(width: 500, height: 375, shorterSide: 256).width, 341)
    }

    func testSameSizeIsACopyAndBadArgumentsThrow() throws {
        let m = try Fixture.manifest()
        let image = try Fixture.decoded(m, "jpeg_256")
        XCTAssertEqual(try image.resized(shorterSide: 256), image)
        XCTAssertThrowsError(try image.resized(width: 0, height: 5))
        XCTAssertThrowsError(try image.resized(width: 5, height: 5, box: ResampleBox(left: -1, top: 0, right: 4, bottom: 4)))
        XCTAssertThrowsError(try image.resized(width: 5, height: 5, box: ResampleBox(left: 0, top: 0, right: 257, bottom: 4)))
        XCTAssertThrowsError(try image.resized(width: 5, height: 5, box: ResampleBox(left: 9, top: 0, right: 4, bottom: 4)))
    }
}
