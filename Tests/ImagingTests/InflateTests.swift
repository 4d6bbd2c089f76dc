import Random
import XCTest
@testable import Imaging

final class InflateTests: XCTestCase {
    /// The concatenated IDAT data of a PNG fixture.
    func idat(_ name: String) throws -> [UInt8] {
        let m = try Fixture.manifest()
        let bytes = try Fixture.bytes(try XCTUnwrap(m.images.first { $0.name == name }).file)
        var out = [UInt8](), i = 8
        while i + 12 <= bytes.count {
            let n = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            if String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self) == "IDAT" { out += bytes[(i + 8)..<(i + 8 + n)] }
            i += 12 + n
        }
        return out
    }

    func testEveryBlockTypeInflatesToTheSameBytes() throws {
        let stored = try Inflater.zlib(try idat("png_rgba16_stored"), limit: 1 << 20)
        XCTAssertEqual(stored.count, 31 * (1 + 41 * 8))
        for name in ["png_rgba16_fixed", "png_rgba16_fast", "png_rgba16_best"] {
            XCTAssertEqual(try Inflater.zlib(try idat(name), limit: 1 << 20), stored, name)
        }
        XCTAssertThrowsError(try Inflater.zlib(try idat("png_rgba16_best"), limit: 100))  // limit enforced
    }

    func testDamagedStreamsThrowInsteadOfTrapping() throws {
        var random = SeededRandom(seed: 1)
        for name in ["png_rgba16_stored", "png_rgba16_fixed", "png_rgba16_best"] {
            let good = try idat(name)
            for cut in stride(from: 0, to: good.count, by: max(1, good.count / 50)) {
                XCTAssertThrowsError(try Inflater.zlib(Array(good[..<cut]), limit: 1 << 20), "\(name) cut at \(cut)")
            }
            for _ in 0..<300 {
                var bad = good
                let at = random.randint(0, bad.count)
                bad[at] ^= UInt8(truncatingIfNeeded: random.randint(1, 256))
                _ = try? Inflater.zlib(bad, limit: 1 << 20)  // either outcome is fine; no trap
            }
        }
    }

    func testAdler32() {
        XCTAssertEqual(adler32(Array("Wikipedia".utf8)), 0x11E6_0398)
        XCTAssertEqual(adler32([]), 1)
    }
}
