import XCTest
@testable import Imaging

final class ExifTests: XCTestCase {
    /// A TIFF payload with one IFD0 entry.
    func payload(bigEndian: Bool, tag: UInt16 = 0x0112, type: UInt16 = 3, count: UInt32 = 1,
                 value: UInt32, exifHeader: Bool = true) -> [UInt8] {
        func u16(_ v: UInt16) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: UInt32) -> [UInt8] {
            let b = [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
            return bigEndian ? b : b.reversed()
        }
        var out: [UInt8] = exifHeader ? Array("Exif".utf8) + [0, 0] : []
        out += bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]
        out += u16(42) + u32(8) + u16(1) + u16(tag) + u16(type) + u32(count)
        out += type == 3 ? u16(UInt16(value)) + [0, 0] : u32(value)
        out += u32(0)
        return out
    }

    func testOrientationInBothByteOrders() {
        for be in [false, true] {
            for v in 1...8 {
                XCTAssertEqual(ExifOrientation.parse(exif: payload(bigEndian: be, value: UInt32(v))),
                               ExifOrientation(rawValue: v), "big endian \(be), value \(v)")
            }
            XCTAssertEqual(ExifOrientation.parse(exif: payload(bigEndian: be, type: 4, value: 6)), .rotated270)
            XCTAssertEqual(ExifOrientation.parse(exif: payload(bigEndian: be, value: 6, exifHeader: false)), .rotated270)
            XCTAssertNil(ExifOrientation.parse(exif: payload(bigEndian: be, value: 9)))
            XCTAssertNil(ExifOrientation.parse(exif: payload(bigEndian: be, value: 0)))
            XCTAssertNil(ExifOrientation.parse(exif: payload(bigEndian: be, tag: 0x0110, value: 6)))
            XCTAssertEqual(ExifOrientation.parse(exif: payload(bigEndian: be, type: 9, value: 8)), .rotated90)
            // present but unusable (BYTE: Pillow reads bytes): no orientation, and no XMP fallback
            XCTAssertEqual(ExifOrientation.tag(exif: payload(bigEndian: be, type: 1, value: 6)), .some(nil))
            // two SHORTs: Pillow keeps the first (6, 0 here)
            XCTAssertEqual(ExifOrientation.tag(exif: payload(bigEndian: be, count: 2, value: 6)), .rotated270)
            // a count of 0 is no entry at all
            XCTAssertEqual(ExifOrientation.tag(exif: payload(bigEndian: be, count: 0, value: 6)), nil)
            // not a TIFF header: Pillow raises, so neither EXIF nor XMP orients the image
            var notTIFF = payload(bigEndian: be, value: 6)
            notTIFF[6] = 0x58
            XCTAssertEqual(ExifOrientation.tag(exif: notTIFF), .some(nil))
            XCTAssertEqual(ExifOrientation.tag(exif: payload(bigEndian: be, value: 9)), .some(nil))
            // a type Pillow does not read is skipped as if absent
            XCTAssertEqual(ExifOrientation.tag(exif: payload(bigEndian: be, type: 99, value: 6)), nil)
        }
    }

    func testDamagedPayloadsNeverCrash() {
        let good = payload(bigEndian: false, value: 6)
        // The entry ends at byte 28 (6 header + 8 TIFF head + 2 count + 12); Pillow needs it whole.
        for cut in 0..<good.count {
            let o = ExifOrientation.parse(exif: Array(good[..<cut]))
            XCTAssertEqual(o, cut >= 28 ? .rotated270 : nil, "payload cut at \(cut)")
        }
        var wild = good
        wild[10] = 0xFF; wild[11] = 0xFF; wild[12] = 0xFF; wild[13] = 0x7F  // IFD offset far away
        XCTAssertNil(ExifOrientation.parse(exif: wild))
        var many = good
        many[14] = 0xFF; many[15] = 0xFF  // 65535 entries in a 30-byte payload
        XCTAssertNotNil(ExifOrientation.parse(exif: many))  // the first entry is still read
    }

    func testXMPFallback() {
        XCTAssertEqual(ExifOrientation.parse(xmp: Array("<x tiff:Orientation=\"6\"/>".utf8)), .rotated270)
        XCTAssertEqual(ExifOrientation.parse(xmp: Array("<tiff:Orientation>3</tiff:Orientation>".utf8)), .rotated180)
        XCTAssertEqual(ExifOrientation.parse(xmp: Array("tiff:OrientationX tiff:Orientation=\"8\"".utf8)), .rotated90)
        XCTAssertNil(ExifOrientation.parse(xmp: Array("tiff:Orientation=\"x\"".utf8)))
    }

    func testTranspositionsOfA2x3Image() throws {
        // pixels numbered 0...5 row-major in a 3-wide, 2-high image
        let image = try RGBImage(width: 3, height: 2, pixels: (0..<6).flatMap { [UInt8($0), 0, 0] })
        func reds(_ o: ExifOrientation) -> [UInt8] { stride(from: 0, to: 18, by: 3).map { image.applying(o).pixels[$0] } }
        XCTAssertEqual(reds(.up), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(reds(.mirrored), [2, 1, 0, 5, 4, 3])
        XCTAssertEqual(reds(.rotated180), [5, 4, 3, 2, 1, 0])
        XCTAssertEqual(reds(.flippedVertically), [3, 4, 5, 0, 1, 2])
        XCTAssertEqual(reds(.transposed), [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(reds(.rotated270), [3, 0, 4, 1, 5, 2])   // 90 degrees clockwise
        XCTAssertEqual(reds(.transversed), [5, 2, 4, 1, 3, 0])
        XCTAssertEqual(reds(.rotated90), [2, 5, 1, 4, 0, 3])    // 90 degrees counter-clockwise
        XCTAssertEqual(image.applying(.rotated90).width, 2)
    }
}
