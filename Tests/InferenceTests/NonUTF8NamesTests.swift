import Foundation
import Imaging
import TestSupport
import XCTest
@testable import Inference

/// File and folder names that are not UTF-8 (byte 0xFF): found by the scans, kept byte for
/// byte, decoded, printed escaped, written to JSON as Python writes them (issue 19, item 9).
final class NonUTF8NamesTests: XCTestCase {
    func testBytesRoundTripThroughPathStrings() {
        let cases: [[UInt8]] = [
            Array("plain/daisy.jpg".utf8), [0x61, 0xFF, 0x62], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80],   // a surrogate, in UTF-8
            [0xF4, 0x8F, 0xBF, 0xBF],   // U+10FFFF itself: escaped byte by byte, so still exact
            Array("ünï €😀".utf8) + [0x80, 0xC0, 0xAF],
        ]
        for bytes in cases {
            let s = PathBytes.string(bytes)
            XCTAssertEqual(PathBytes.bytes(s), bytes, "\(bytes)")
            let viaC = PathBytes.withCString(s) { Array(UnsafeBufferPointer(start: UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self), count: strlen($0))) }
            XCTAssertEqual(viaC, bytes)
        }
        XCTAssertEqual(PathBytes.string(Array("ünï".utf8)), "ünï", "valid UTF-8 stays as it is")
        XCTAssertEqual(TerminalText.escaped(PathBytes.string([0x61, 0xFF, 0x62])), "a\\xffb")
        XCTAssertEqual(PythonFormat.jsonString(PathBytes.string([0x61, 0xFF])), "\"a\\udcff\"", "json.dumps of os.listdir's name")
        // Sorted as Python sorts os.listdir's surrogate escapes (U+DCFF before U+E000).
        XCTAssertTrue(PythonFormat.codePointLess(PathBytes.string([0xFF]), "\u{E000}"))
    }

    func testAScanFindsAndDecodesAnImageWhoseNameIsNotUTF8() throws {
        let dir = try RawNameFolder("scan")
        defer { dir.remove() }
        let folder = dir.path([0x63, 0xFF])                  // "c\xFF"
        dir.mkdir(folder)
        let image = dir.path([0x63, 0xFF], [0x69, 0xFE, 0x2E, 0x6A, 0x70, 0x67])   // "c\xFF/i\xFE.jpg"
        dir.write(image, try RawNameFolder.image())
        dir.write(dir.path([0x63, 0xFF], Array("ok.jpg".utf8)), try RawNameFolder.image("02.jpg"))

        let listing = try ImageList.scan(dir.root, recursive: true)
        XCTAssertEqual(listing.images.count, 2, "no file left out: \(listing.images.map(TerminalText.escaped)), \(listing.warnings)")
        XCTAssertTrue(listing.images.contains(image))
        XCTAssertEqual(PathBytes.bytes(try XCTUnwrap(listing.images.first { $0 == image })),
                       Array(dir.root.utf8) + [0x2F, 0x63, 0xFF, 0x2F, 0x69, 0xFE, 0x2E, 0x6A, 0x70, 0x67])
        let decoded = try ImageDecoder.decode(path: image)
        XCTAssertEqual(decoded, try ImageDecoder.decode(bytes: try RawNameFolder.image()))
        XCTAssertTrue(TerminalText.escaped(image).hasSuffix("/c\\xff/i\\xfe.jpg"))
        XCTAssertNil(ImageProbe.problem(path: image, size: try RawNameFolder.image().count), "the header probe opens it too")
    }

    func testEvaluationScoresAClassFolderWhoseNameIsNotUTF8() throws {
        let dir = try RawNameFolder("evaluate")
        defer { dir.remove() }
        let daisy = PathBytes.string(Array("daisy".utf8) + [0xFF])
        for name in [daisy, "tulips"] {
            dir.mkdir(dir.root + "/" + name)
            dir.write(dir.root + "/" + name + "/" + PathBytes.string([0x78, 0xFF]) + ".jpg", try RawNameFolder.image())
        }
        let names = try ClassIndices(contentsOf: FixturePaths.path("evaluate/class_indices.json")).names
            .map { $0 == "daisy" ? daisy : $0 }
        let folders = try Evaluation.classFolders(dir.root, classNames: names, walk: FolderWalk())
        XCTAssertEqual(folders.folders.map(\.name), [daisy, "tulips"])
        XCTAssertEqual(folders.folders.map(\.index), [5, 1])
    }
}
