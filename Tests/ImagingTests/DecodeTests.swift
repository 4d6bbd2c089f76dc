import XCTest
@testable import Imaging

final class DecodeTests: XCTestCase {
    func testEveryFixtureDecodesLikePIL() throws {
        let m = try Fixture.manifest()
        XCTAssertGreaterThan(m.images.count, 30)
        for entry in m.images {
            let image = try ImageDecoder.decode(path: Fixture.path(entry.file))
            let what = "\(entry.name) (PIL mode \(entry.pil_mode))"
            if let rgb = entry.rgb {
                assertPixels(image, width: entry.width, height: entry.height, try Fixture.bytes(rgb), what)
            } else {
                XCTAssertEqual(image.width, entry.width, what)
                XCTAssertEqual(image.height, entry.height, what)
                XCTAssertEqual(sha256Hex(image.pixels), entry.rgb_sha256, "\(what): pixel hash")
            }
        }
    }

    func testDecodingFromBytesMatchesDecodingFromPath() throws {
        let m = try Fixture.manifest()
        let entry = try XCTUnwrap(m.images.first { $0.name == "jpeg_exif6" })
        let fromBytes = try ImageDecoder.decode(bytes: Fixture.bytes(entry.file))
        XCTAssertEqual(fromBytes, try ImageDecoder.decode(path: Fixture.path(entry.file)))
        XCTAssertEqual(fromBytes.width, 23)
        XCTAssertEqual(fromBytes.height, 37)
    }

    func testUnsupportedFormatsAreNamed() throws {
        let m = try Fixture.manifest()
        XCTAssertEqual(Set(m.unsupported.map(\.format)), ["webp", "bmp", "gif", "tiff"])
        for entry in m.unsupported {
            let path = Fixture.path(entry.file)
            XCTAssertThrowsError(try ImageDecoder.decode(path: path)) { error in
                XCTAssertEqual(error as? ImagingError, .unsupportedFormat(path: path, format: entry.format))
                let text = "\(error)"
                XCTAssertTrue(text.contains(path) && text.contains(entry.format.uppercased()), text)
            }
        }
    }

    func testFormatIsSniffedFromContentNotName() throws {
        let m = try Fixture.manifest()
        let png = try Fixture.bytes(try XCTUnwrap(m.images.first { $0.name == "png_rgb" }).file)
        let jpg = try Fixture.bytes(try XCTUnwrap(m.images.first { $0.name == "jpeg_420" }).file)
        XCTAssertEqual(ImageFormat.sniff(png), .png)
        XCTAssertEqual(ImageFormat.sniff(jpg), .jpeg)
        XCTAssertNil(ImageFormat.sniff([UInt8]("hello world!".utf8)))
        XCTAssertNil(ImageFormat.sniff([UInt8]()))
        // a PNG named .jpg decodes as PNG
        XCTAssertEqual(try ImageDecoder.decode(bytes: png, path: "x.jpg").width, 83)
        XCTAssertThrowsError(try ImageDecoder.decode(bytes: [UInt8]("hello".utf8), path: "notes.jpg")) { error in
            XCTAssertEqual(error as? ImagingError, .unknownFormat(path: "notes.jpg"))
        }
    }

    func testTruncatedAndDamagedFilesThrow() throws {
        let m = try Fixture.manifest()
        let path = Fixture.path(m.truncated)
        XCTAssertThrowsError(try ImageDecoder.decode(path: path)) { error in
            guard case .corrupt(let p, "JPEG", _)? = error as? ImagingError else {
                return XCTFail("expected a corrupt-JPEG error, got \(error)")
            }
            XCTAssertEqual(p, path)
        }
        // Every prefix of a PNG and a JPEG either decodes or throws; none crashes.
        for name in ["png_palette_trns", "jpeg_progressive", "png_grey16"] {
            let bytes = try Fixture.bytes(try XCTUnwrap(m.images.first { $0.name == name }).file)
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)) {
                _ = try? ImageDecoder.decode(bytes: Array(bytes[..<cut]), path: name)
            }
        }
        // A PNG cut inside its image data is refused.
        let png = try Fixture.bytes(try XCTUnwrap(m.images.first { $0.name == "png_rgb" }).file)
        XCTAssertThrowsError(try ImageDecoder.decode(bytes: Array(png[..<(png.count / 2)]), path: "cut.png"))
    }

    func testMissingFileThrowsUnreadable() {
        XCTAssertThrowsError(try ImageDecoder.decode(path: "/nonexistent/dir/x.jpg")) { error in
            guard case .unreadable(let p, _)? = error as? ImagingError else {
                return XCTFail("expected unreadable, got \(error)")
            }
            XCTAssertEqual(p, "/nonexistent/dir/x.jpg")
        }
    }
}
