import CZip
import Foundation
import XCTest
@testable import Checkpoint

/// Files made to exhaust the reader: each is refused with the error that names its limit,
/// quickly, and without allocating what it claims. They are made here at run time.
final class HostileFileTests: XCTestCase {
    /// Runs `body`, returning its error and how long it took to fail.
    func failure(_ body: () throws -> Void) -> (CheckpointError?, TimeInterval) {
        let start = Date()
        do { try body() } catch let e as CheckpointError { return (e, Date().timeIntervalSince(start)) } catch {
            XCTFail("not a CheckpointError: \(error)")
        }
        return (nil, Date().timeIntervalSince(start))
    }

    /// The fuzzer's crash: a 3 MB zip whose deflated record declares 3 GiB, consistent with its
    /// pickle and within deflate's 1032:1. Refused before anything is inflated or allocated.
    func testThreeGiBDeflateBombIsRefusedBeforeInflating() throws {
        let path = tempPath("bomb3g.pth")
        let numel = 3 << 28                                     // 3 GiB of float32
        try ZipForge.checkpoint(at: path, pickle: ZipForge.tensorPickle(numel: numel, shape: [numel], stride: [1]),
                                record: .init(name: "", data: [UInt8](repeating: 0, count: 3 << 20), method: 8, declaredSize: 3 << 30))
        let (error, seconds) = failure { _ = try Checkpoint(contentsOf: path) }
        let e = try XCTUnwrap(error)
        XCTAssertEqual(e.category, "too_large", "\(e)")
        XCTAssertTrue(e.description.contains("zip record 'archive/data/0' needs 3 GiB (3221225472 bytes)"), "\(e)")
        XCTAssertTrue(e.description.contains("pass --max-memory 4"), "\(e)")
        XCTAssertLessThan(seconds, 5, "refused by its declared size, not by inflating it")
    }

    /// The fuzzer's blow-up: data.pkl declaring 1.6 GB. Refused for its size, not as nesting.
    func testHugePickleIsRefusedForItsSize() throws {
        let path = tempPath("bigpickle.pth")
        try ZipForge.write([
            .init(name: "archive/data.pkl", data: [UInt8](repeating: 0, count: 1_600_000), method: 8, declaredSize: 1_600_000_000),
            .init(name: "archive/version", data: Array("3\n".utf8)),
        ], to: path)
        let (error, seconds) = failure { _ = try Checkpoint(contentsOf: path) }
        let e = try XCTUnwrap(error)
        XCTAssertEqual(e.category, "zip_bomb", "\(e)")
        XCTAssertTrue(e.description.contains("'archive/data.pkl': it declares 1.49 GiB (1600000000 bytes) of pickle"), "\(e)")
        XCTAssertLessThan(seconds, 5)
    }

    /// A real deflated record of 8 MiB of zeros (1000:1) reads under the default limits and is
    /// refused under a lower one: the limit is what decides, and `maxMemory` raises it.
    func testDeflatedRecordIsBoundedByMaxMemory() throws {
        let path = tempPath("deflated-zeros.pth")
        let numel = 2 << 20
        var err: Int32 = 0
        let za = try XCTUnwrap(zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err))
        func add(_ name: String, _ data: [UInt8], deflate: Bool) throws {
            let buffer = try XCTUnwrap(malloc(max(data.count, 1)))
            data.withUnsafeBytes { if $0.count > 0 { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            let source = try XCTUnwrap(zip_source_buffer(za, buffer, UInt64(data.count), 1))
            let i = zip_file_add(za, name, source, zip_flags_t(ZIP_FL_ENC_UTF_8))
            XCTAssertGreaterThanOrEqual(i, 0)
            zip_set_file_compression(za, UInt64(i), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0)
        }
        try add("archive/data.pkl", ZipForge.tensorPickle(numel: numel, shape: [numel], stride: [1]), deflate: false)
        try add("archive/data/0", [UInt8](repeating: 0, count: numel * 4), deflate: true)
        XCTAssertEqual(zip_close(za), 0)
        let fileSize = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        XCTAssertLessThan(fileSize, 16 << 10, "the record is deflated about 1000:1")

        let ckpt = try Checkpoint(contentsOf: path)
        XCTAssertEqual(ckpt.stateDict["w"]?.shape, [numel])
        XCTAssertEqual(ckpt.stateDict["w"]?.bytes == [UInt8](repeating: 0, count: numel * 4), true)

        let (error, _) = failure { _ = try Checkpoint(contentsOf: path, options: LoadOptions(limits: ReadLimits(maxMemory: 4 << 20))) }
        let e = try XCTUnwrap(error)
        XCTAssertEqual(e.category, "too_large", "\(e)")
        XCTAssertTrue(e.description.contains("needs 8 MiB (8388608 bytes), past the 4 MiB this read may allocate"), "\(e)")
    }

    /// A stored record of one float viewed as 2^30 of them by a zero stride: 4 GiB from a
    /// 400-byte file. Small zero-stride views still read.
    func testZeroStrideExpansionIsCharged() throws {
        let path = tempPath("stride0.pth")
        try ZipForge.checkpoint(at: path, pickle: ZipForge.tensorPickle(numel: 1, shape: [1 << 30], stride: [0]),
                                record: .init(name: "", data: [0, 0, 0x80, 0x3F]))
        let (error, seconds) = failure { _ = try Checkpoint(contentsOf: path) }
        let e = try XCTUnwrap(error)
        XCTAssertEqual(e.category, "too_large", "\(e)")
        XCTAssertTrue(e.description.contains("tensor 'w' (shape [1073741824], stride [0]) needs 4 GiB"), "\(e)")
        XCTAssertLessThan(seconds, 5)

        try ZipForge.checkpoint(at: path, pickle: ZipForge.tensorPickle(numel: 1, shape: [3], stride: [0]),
                                record: .init(name: "", data: [0, 0, 0x80, 0x3F]))
        XCTAssertEqual(try Checkpoint(contentsOf: path).stateDict["w"]?.floats(), [1, 1, 1])
    }

    /// A size the system cannot give is an error, not a trap.
    func testRefusedAllocationIsAnError() {
        let budget = MemoryBudget.unlimited(path: "x.pth")
        XCTAssertThrowsError(try budget.bytes(1 << 61, "a test buffer") { _ in XCTFail("must not be filled") }) { e in
            XCTAssertEqual((e as? CheckpointError)?.category, "out_of_memory")
            XCTAssertTrue("\(e)".contains("cannot allocate 2097152 TiB (2305843009213693952 bytes) for a test buffer"), "\(e)")
        }
        XCTAssertEqual(try budget.bytes(3, "three") { $0.copyBytes(from: [1, 2, 3]) }, [1, 2, 3])
    }

    /// A budget counts what it gave out: the second request past the limit is refused.
    func testBudgetAccumulates() throws {
        let budget = MemoryBudget(path: "x.pth", limit: 100)
        try budget.charge(60, "first")
        XCTAssertThrowsError(try budget.charge(41, "second")) { e in
            XCTAssertTrue("\(e)".contains("second needs 41 bytes (41 bytes), past the 100 bytes this read may allocate, 60 bytes of it already taken"), "\(e)")
        }
        try budget.charge(40, "third")
        XCTAssertEqual(budget.used, 100)
    }

    func testMaxMemoryParsing() {
        XCTAssertEqual(ReadLimits.parseSize("4"), 4 << 30)
        XCTAssertEqual(ReadLimits.parseSize("0.5"), 512 << 20)
        XCTAssertEqual(ReadLimits.parseSize("512M"), 512 << 20)
        XCTAssertEqual(ReadLimits.parseSize("512MiB"), 512 << 20)
        XCTAssertEqual(ReadLimits.parseSize("8g"), 8 << 30)
        XCTAssertEqual(ReadLimits.parseSize("8GB"), 8 << 30)
        XCTAssertEqual(ReadLimits.parseSize("100000K"), 100_000 << 10)
        XCTAssertEqual(ReadLimits.parseSize("65536B"), 65536)
        for bad in ["", "abc", "-1", "0", "4X", "nan", "1e30"] { XCTAssertNil(ReadLimits.parseSize(bad), bad) }
        XCTAssertEqual(ReadLimits.describe(3 << 30), "3 GiB")
        XCTAssertEqual(ReadLimits.defaultMemory(fileSize: 100 << 20), 456 << 20)
    }

    /// Found in review (Fixtures/fuzz/checkpoint): a forged ZIP64 size, a block index of
    /// Int.max, one leaf module's tensors shared 300,000 times, and OrderedDict called 2,000
    /// times on one memoized 10,000-key dict. Each is an error (or, for the index, a plain
    /// read), never a trap, quickly and without the memory its copies would take.
    func testReviewFindingsAreBounded() throws {
        let dir = FixtureManifest.fixtures.appendingPathComponent("fuzz/checkpoint")
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        XCTAssertEqual(failure { _ = try Checkpoint(contentsOf: path("zip64_compressed_size_2pow62.pth")) }.0?.category, "zip_bomb")
        XCTAssertNoThrow(try Checkpoint(contentsOf: path("block_index_int_max.pth")))  // named in ResNetTests
        let (shared, t1) = failure { _ = try Checkpoint(contentsOf: path("shared_leaf_300k_tensors.pth"), options: LoadOptions(allowObjects: true)) }
        XCTAssertTrue(shared?.description.contains("more than 100000 tensors") ?? false, "\(String(describing: shared))")
        XCTAssertLessThan(t1, 5)
        let (copies, t2) = failure { _ = try Checkpoint(contentsOf: path("ordereddict_of_memoized_dict_2000_times.pth")) }
        XCTAssertEqual(copies?.category, "pickle_objects", "\(String(describing: copies))")
        XCTAssertLessThan(t2, 10)
    }

    /// A whole pickled model whose 40 levels each hold one child twice (Fixtures/hostile,
    /// made by torch.save): 10 KB, but 2^40 paths for `state_dict()`'s walk. With
    /// --allow-objects it is refused quickly for the number of modules, never walked out.
    func testSharedModulesAreNotWalkedExponentially() throws {
        let path = FixtureManifest.fixtures.appendingPathComponent("hostile/shared_modules.pth").path
        let (error, seconds) = failure { _ = try Checkpoint(contentsOf: path, options: LoadOptions(allowObjects: true)) }
        let e = try XCTUnwrap(error)
        XCTAssertTrue(e.description.contains("more than 100000 modules"), "\(e)")
        XCTAssertLessThan(seconds, 5)
        // Without --allow-objects it is refused for its classes, as any whole model is.
        XCTAssertThrowsError(try Checkpoint(contentsOf: path)) { XCTAssertTrue("\($0)".contains("--allow-objects"), "\($0)") }
    }
}

/// The legacy and tar readers slice the file they hold; what a slice's bounds are computed
/// from is checked before it is used.
final class HostileBoundsTests: XCTestCase {
    /// A tar PAX header giving a negative size (a trap before: a reversed range).
    func testNegativePaxSizeIsMalformed() {
        func header(_ name: String, type: Character, size: Int) -> [UInt8] {
            var h = [UInt8](repeating: 0, count: 512)
            h.replaceSubrange(0..<name.utf8.count, with: Array(name.utf8))
            let octal = Array(String(size, radix: 8).utf8)
            h.replaceSubrange(124..<124 + octal.count, with: octal)
            h[156] = UInt8(ascii: type.unicodeScalars.first!)
            h.replaceSubrange(257..<262, with: Array("ustar".utf8))
            return h
        }
        let pax = Array("11 size=-5\n".utf8)
        var tar = header("pax", type: "x", size: pax.count) + pax + [UInt8](repeating: 0, count: 512 - pax.count)
        tar += header("pickle", type: "0", size: 0) + [UInt8](repeating: 0, count: 1024)
        XCTAssertThrowsError(try TarFormat.members(tar, path: "t.pth")) { e in
            XCTAssertEqual((e as? CheckpointError)?.category, "malformed", "\(e)")
        }
    }

    /// A storage view whose offset overflows in bytes (a trap before).
    func testOverflowingViewIsAnError() {
        let root = [UInt8](repeating: 0, count: 64)[...]
        XCTAssertThrowsError(try viewBounds(root, offset: Int.max / 2, size: 1, elementSize: 4, path: "l.pth")) { e in
            XCTAssertEqual((e as? CheckpointError)?.category, "overflow", "\(e)")
        }
        XCTAssertEqual(try viewBounds(root, offset: 2, size: 3, elementSize: 4, path: "l.pth").1, 20)
    }
}
