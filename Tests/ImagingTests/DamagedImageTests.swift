import Foundation
import XCTest
@testable import Imaging

/// Damaged JPEGs, odd EXIF orientations and PNG Exif sources (Fixtures/damaged, made by
/// gen_damaged.py): what PIL reads, Graft reads bit-identically; what PIL refuses, Graft refuses.
final class DamagedImageTests: XCTestCase {
    static let folder = Fixture.root.deletingLastPathComponent().appendingPathComponent("damaged")

    func testEveryCaseAgreesWithPIL() throws {
        let m = try PILVerdicts.load(Self.folder)
        XCTAssertGreaterThan(m.cases.count, 80)
        XCTAssertGreaterThan(m.cases.filter { $0.pil == "read" }.count, 60)
        for c in m.cases {
            let verdict = compare(c, in: Self.folder)
            XCTAssert(verdict == .identical || verdict == .bothRefuse,
                      "\(c.name) (\(c.what ?? "")): PIL \(c.pil) \(c.error ?? ""); Graft: \(verdict)")
        }
    }

    /// The warning fixtures do make libjpeg warn (and PIL read them anyway); clean ones do not.
    func testWarningFixturesMakeLibjpegWarn() throws {
        let m = try PILVerdicts.load(Self.folder)
        // (Junk between the last scan and EOI draws no warning: libjpeg's Huffman decoder
        // reads ahead and swallows it.)
        let warned = ["extraneous_before_dqt", "extraneous_before_sos", "ff00_after_soi",
                      "app14_short", "cut_scan_with_eoi", "rst_missing", "rst_wrong_number",
                      "rst_junk", "progressive_cut_with_eoi", "progressive_junk_between_scans"]
        for name in warned + ["clean", "rst_clean", "progressive_clean", "fill_bytes"] {
            let c = try XCTUnwrap(m.cases.first { $0.name == name }, name)
            XCTAssertEqual(c.pil, "read", name)
            let bytes = [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(c.file)))
            let report = try JPEGDecoder.decodeReporting(bytes, path: name).report
            if warned.contains(name) {
                XCTAssertGreaterThan(report.warnings, 0, "\(name): libjpeg should warn")
                XCTAssertFalse(report.firstWarning.isEmpty, name)
            } else {
                XCTAssertEqual(report, .init(warnings: 0, firstWarning: ""), name)
            }
        }
    }

    /// Data that ends before the last row is refused as truncated, with a plain message.
    func testTruncationIsNamed() throws {
        let m = try PILVerdicts.load(Self.folder)
        for name in ["no_eoi", "truncated_scan", "progressive_no_eoi", "progressive_truncated"] {
            let c = try XCTUnwrap(m.cases.first { $0.name == name }, name)
            XCTAssertEqual(c.pil, "refused", name)
            let path = Self.folder.appendingPathComponent(c.file).path
            XCTAssertThrowsError(try ImageDecoder.decode(path: path)) { error in
                XCTAssertEqual(error as? ImagingError,
                               .corrupt(path: path, format: "JPEG", reason: "the file ends before the image data does"), name)
            }
        }
    }

    /// Thousands of deterministic one- and two-byte changes to damaged files: each decodes
    /// or throws, none traps (every read in the marker walk, the Exif reader, the chunk
    /// walk and the zlib re-wrap is bounds-checked).
    func testMutatedFilesNeverCrash() throws {
        let m = try PILVerdicts.load(Self.folder)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var decoded = 0
        for name in ["exif_short_count3", "rst_clean", "progressive_clean", "png_raw_profile_ztxt", "png_zlib_no_checksum"] {
            let c = try XCTUnwrap(m.cases.first { $0.name == name }, name)
            let bytes = [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(c.file)))
            for _ in 0..<300 {
                var b = bytes
                for _ in 0...(next() % 2) { b[3 + next() % (b.count - 3)] = UInt8(truncatingIfNeeded: next()) }
                if next() % 4 == 0 { b.removeLast(next() % b.count / 2) }
                if (try? ImageDecoder.decode(bytes: b, path: name)) != nil { decoded += 1 }
            }
        }
        XCTAssertGreaterThan(decoded, 0)
    }
}

/// Found in review: PNG headers that must be refused or bounded before anything large is read.
final class PNGHeaderBoundsTests: XCTestCase {
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = CRC32.checksum(body[...])
        return be32(data.count) + body + be32(Int(crc))
    }
    static func be32(_ v: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8((v >> $0) & 0xFF) } }
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// A 65536x65536 header (over Pillow's 2 x 89,478,485 pixels) is refused as PIL refuses
    /// it, at once, before any image data is inflated (PIL: DecompressionBombError).
    func testDecompressionBombHeaderIsRefused() throws {
        let ihdr = Self.chunk("IHDR", Self.be32(65536) + Self.be32(65536) + [16, 6, 0, 0, 0])
        let png = Self.signature + ihdr + Self.chunk("IDAT", [0x78, 0x01]) + Self.chunk("IEND", [])
        let start = Date()
        XCTAssertThrowsError(try ImageDecoder.decode(bytes: png)) {
            XCTAssertTrue("\($0)".contains("decompression bomb"), "\($0)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        // 2 x 89,478,485 pixels exactly is not a bomb for Pillow: not refused for that reason.
        let edge = Self.chunk("IHDR", Self.be32(2 * 89_478_485) + Self.be32(1) + [8, 0, 0, 0, 0])
        XCTAssertThrowsError(try ImageDecoder.decode(bytes: Self.signature + edge + Self.chunk("IEND", []))) {
            XCTAssertFalse("\($0)".contains("decompression bomb"), "\($0)")
        }
    }

    /// The largest sizes a PNG can declare, 2^32 - 1 by 2^32 - 1: their product overflows an
    /// Int, which trapped (the fuzzer's finding, Fixtures/fuzz/png/ihdr_width_times_height_overflows_int.png);
    /// it is a decompression bomb with its exact pixel count, as Pillow says.
    func testLargestDeclaredSizeIsABombNotATrap() throws {
        let ihdr = Self.chunk("IHDR", Self.be32(0xFFFF_FFFF) + Self.be32(0xFFFF_FFFF) + [8, 2, 0, 0, 0])
        XCTAssertThrowsError(try ImageDecoder.decode(bytes: Self.signature + ihdr + Self.chunk("IEND", []))) {
            XCTAssertTrue("\($0)".contains("18446744065119617025 pixels: Pillow refuses it as a decompression bomb"), "\($0)")
        }
    }

    /// A short IHDR after IEND (32 bytes in all) used to trap in the zlib rebuild path.
    func testShortHeaderAfterTheEndIsAnError() throws {
        let png = Self.signature + Self.chunk("IEND", []) + Self.be32(13) + Array("IHDR".utf8) + [0, 0, 0, 1]
        XCTAssertThrowsError(try ImageDecoder.decode(bytes: png))
    }
}
