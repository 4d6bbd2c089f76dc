import Random
import XCTest
@testable import Imaging

/// The zlib wrapper (graft_zlib.c) that compressed chunks and `PNGRewrap` use, and the
/// 16-bit-with-alpha fixtures (every deflate block type) read through the public decoder.
final class ZlibTests: XCTestCase {
    /// The concatenated IDAT data of a PNG fixture, and the file's bytes.
    func idat(_ name: String) throws -> [UInt8] { try parts(name).idat }

    func parts(_ name: String) throws -> (bytes: [UInt8], idat: [UInt8]) {
        let m = try Fixture.manifest()
        let bytes = try Fixture.bytes(try XCTUnwrap(m.images.first { $0.name == name }).file)
        var out = [UInt8](), i = 8
        while i + 12 <= bytes.count {
            let n = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            if String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self) == "IDAT" { out += bytes[(i + 8)..<(i + 8 + n)] }
            i += 12 + n
        }
        return (bytes, out)
    }

    /// The fixture's chunks up to its IDAT data, with `idat` in one IDAT chunk and IEND after.
    func withIDAT(_ name: String, _ idat: [UInt8]) throws -> [UInt8] {
        let bytes = try parts(name).bytes
        var head = [UInt8](), i = 8
        while i + 12 <= bytes.count {
            let n = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            if String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self) == "IDAT" { break }
            head += bytes[i..<(i + 12 + n)]
            i += 12 + n
        }
        return PNGHeaderBoundsTests.signature + head + PNGHeaderBoundsTests.chunk("IDAT", idat)
            + PNGHeaderBoundsTests.chunk("IEND", [])
    }

    func testEveryBlockTypeInflatesToTheSameBytes() throws {
        let stored = try Zlib.inflate(try idat("png_rgba16_stored"), limit: 1 << 20)
        XCTAssertEqual(stored.count, 31 * (1 + 41 * 8))
        for name in ["png_rgba16_fixed", "png_rgba16_fast", "png_rgba16_best"] {
            XCTAssertEqual(try Zlib.inflate(try idat(name), limit: 1 << 20), stored, name)
        }
        XCTAssertThrowsError(try Zlib.inflate(try idat("png_rgba16_best"), limit: 100)) {  // limit enforced
            XCTAssertEqual($0 as? ZlibError, .tooLong(limit: 100))
        }
        XCTAssertEqual(try Zlib.inflate(try idat("png_rgba16_best"), limit: stored.count), stored)  // exactly the limit
    }

    /// The same 16-bit RGBA pixels, stored, fixed-Huffman, fast and best compressed, decode alike.
    func testEveryBlockTypeDecodesToTheSamePixels() throws {
        let m = try Fixture.manifest()
        func decoded(_ name: String) throws -> RGBImage {
            try ImageDecoder.decode(path: Fixture.path(try XCTUnwrap(m.images.first { $0.name == name }).file))
        }
        let stored = try decoded("png_rgba16_stored")
        XCTAssertEqual(stored.width, 41)
        XCTAssertEqual(stored.height, 31)
        for name in ["png_rgba16_fixed", "png_rgba16_fast", "png_rgba16_best"] {
            XCTAssertEqual(try decoded(name), stored, name)
        }
    }

    func testDamagedStreamsThrowInsteadOfTrapping() throws {
        var random = SeededRandom(seed: 1)
        for name in ["png_rgba16_stored", "png_rgba16_fixed", "png_rgba16_best"] {
            let good = try idat(name)
            for cut in stride(from: 0, to: good.count, by: max(1, good.count / 50)) {
                XCTAssertThrowsError(try Zlib.inflate(Array(good[..<cut]), limit: 1 << 20), "\(name) cut at \(cut)")
            }
            for _ in 0..<300 {
                var bad = good
                let at = random.randint(0, bad.count)
                bad[at] ^= UInt8(truncatingIfNeeded: random.randint(1, 256))
                _ = try? Zlib.inflate(bad, limit: 1 << 20)  // either outcome is fine; no trap
            }
        }
    }

    /// 16-bit RGBA files whose image data is cut short (IEND after it) are refused, as Pillow
    /// refuses them ("image file is truncated"), once more than the checksum and the last
    /// block's end are gone; damaged image data decodes or throws, never traps.
    func testCutAndDamagedImageDataThroughTheDecoder() throws {
        var random = SeededRandom(seed: 2)
        for name in ["png_rgba16_stored", "png_rgba16_fixed", "png_rgba16_best", "png_la16_filtered"] {
            let good = try idat(name)
            XCTAssertNoThrow(try ImageDecoder.decode(bytes: try withIDAT(name, good), path: name))
            for cut in stride(from: 0, to: good.count - 16, by: max(1, good.count / 50)) {
                XCTAssertThrowsError(try ImageDecoder.decode(bytes: try withIDAT(name, Array(good[..<cut])), path: name),
                                     "\(name) cut at \(cut)") { error in
                    guard case .corrupt(name, "PNG", _)? = error as? ImagingError else {
                        return XCTFail("\(name) cut at \(cut): \(error)")
                    }
                }
            }
            for _ in 0..<100 {
                var bad = good
                let at = random.randint(0, bad.count)
                bad[at] ^= UInt8(truncatingIfNeeded: random.randint(1, 256))
                _ = try? ImageDecoder.decode(bytes: try withIDAT(name, bad), path: name)
            }
        }
    }

    /// A wrong zlib checksum after the last row of a 16-bit image with alpha: Pillow (13.0)
    /// refuses the file when the checksum shares an IDAT chunk with the last row (zlib reports
    /// it while inflating that row: "broken data stream", as for the 8-bit png_zlib_bad_checksum
    /// in Fixtures/damaged), and reads it when the checksum comes in a later chunk, which it
    /// never inflates (checked with Fixtures/check_pillow_corpus.py on such files). libpng's
    /// full API draws the same line; the hand-written reader refused both.
    func testWrongChecksumIsSeenOnlyWhereThePNGReaderSeesIt() throws {
        for name in ["png_la16_filtered", "png_rgba16_best", "png_rgba16_interlaced"] {
            var stream = try idat(name)
            stream[stream.count - 1] ^= 0x55
            XCTAssertThrowsError(try ImageDecoder.decode(bytes: try withIDAT(name, stream), path: name), name)
            let m = try Fixture.manifest()
            let pil = try ImageDecoder.decode(path: Fixture.path(try XCTUnwrap(m.images.first { $0.name == name }).file))
            var split = try withIDAT(name, [])
            split.removeLast(12 + 12)  // the empty IDAT and IEND
            for at in stride(from: 0, to: stream.count, by: 7) {
                split += PNGHeaderBoundsTests.chunk("IDAT", Array(stream[at..<min(at + 7, stream.count)]))
            }
            split += PNGHeaderBoundsTests.chunk("IEND", [])
            XCTAssertEqual(try ImageDecoder.decode(bytes: split, path: name), pil, name)
        }
    }

    /// What Pillow's PNG decoder sees of a stream: the bytes it needs, blind to what follows
    /// them, except a wrong checksum right after the last needed byte.
    func testPrefixStopsWhereThePNGReaderStops() throws {
        let good = try idat("png_rgba16_best")
        let all = try Zlib.inflate(good, limit: 1 << 20)
        XCTAssertEqual(Zlib.prefix(good, count: all.count), all)
        XCTAssertEqual(Zlib.prefix(good, count: 100), Array(all.prefix(100)))
        XCTAssertEqual(Zlib.prefix(Array(good.dropLast(4)), count: all.count), all)  // no checksum
        var wrongSum = good
        wrongSum[wrongSum.count - 1] ^= 1
        XCTAssertNil(Zlib.prefix(wrongSum, count: all.count))
        XCTAssertEqual(Zlib.prefix(wrongSum, count: all.count - 1), Array(all.dropLast()))
        XCTAssertThrowsError(try Zlib.inflate(wrongSum, limit: 1 << 20))
        XCTAssertNil(Zlib.prefix([0x78, 0x02] + good.dropFirst(2), count: 10))  // bad header
        XCTAssertLessThan(Zlib.prefix(Array(good.prefix(good.count / 2)), count: all.count)?.count ?? 0, all.count)
    }

    func testStoredStreamsReadBack() throws {
        let text = Array("Wikipedia".utf8)
        let stream = try XCTUnwrap(Zlib.stored(text))
        XCTAssertEqual(Array(stream.suffix(4)), [0x11, 0xE6, 0x03, 0x98])  // its Adler-32
        XCTAssertEqual(try Zlib.inflate(stream, limit: 100), text)
        let big = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }  // several stored blocks
        XCTAssertEqual(try Zlib.inflate(try XCTUnwrap(Zlib.stored(big)), limit: big.count), big)
        // One byte more than the limit, even in a stream that ends right there, is too long.
        XCTAssertThrowsError(try Zlib.inflate(try XCTUnwrap(Zlib.stored(big)), limit: big.count - 1)) {
            XCTAssertEqual($0 as? ZlibError, .tooLong(limit: big.count - 1))
        }
    }
}
