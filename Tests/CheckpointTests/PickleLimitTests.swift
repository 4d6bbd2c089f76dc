import Foundation
import XCTest
@testable import Checkpoint

/// Each pickle limit refuses the pickle made to break it, with its own message, quickly.
final class PickleLimitTests: XCTestCase {
    /// Runs a pickle; returns its error and the seconds it took.
    func run(_ body: [UInt8], limits: ReadLimits = ReadLimits()) -> (CheckpointError?, TimeInterval) {
        var reader = ByteReader([0x80, 0x02] + body + [0x2E], path: "p.pth")
        var vm = PickleMachine(path: "p.pth", limits: limits) { _ in .none }
        let start = Date()
        do { _ = try vm.load(&reader) } catch { return (error as? CheckpointError, Date().timeIntervalSince(start)) }
        return (nil, Date().timeIntervalSince(start))
    }

    /// The fuzzer's flat stack of a million pushes is a stack problem, not nesting.
    func testFlatMillionPushesSayStack() throws {
        let (error, seconds) = run([UInt8](repeating: 0x4E, count: 1_000_000))          // NONE x 1e6
        let e = try XCTUnwrap(error)
        XCTAssertEqual(e.category, "pickle_stack", "\(e)")
        XCTAssertTrue(e.description.contains("piles more than 500000 values on its stack"), "\(e)")
        XCTAssertTrue(e.description.contains("not nesting"), "\(e)")
        XCTAssertFalse(e.description.contains("nests deeper"), "\(e)")
        XCTAssertLessThan(seconds, 10)
    }

    func testTupleChainSaysNesting() throws {
        let (error, _) = run([0x29] + [UInt8](repeating: 0x85, count: 1001))              // (), TUPLE1 x 1001
        let e = try XCTUnwrap(error)
        XCTAssertEqual(e.category, "deep_nesting", "\(e)")
        XCTAssertTrue(e.description.contains("nests deeper than 1000 levels"), "\(e)")
        XCTAssertNil(run([0x29] + [UInt8](repeating: 0x85, count: 999)).0, "999 levels are fine")
    }

    /// Lists nested through the memo with a stack never deeper than 3.
    func testListChainThroughMemoSaysNesting() throws {
        // [] PUT 0; then n times: [] GET 0 APPEND PUT 0 POP
        let step: [UInt8] = [0x5D, 0x68, 0, 0x61, 0x71, 0, 0x30]
        let (error, _) = run([0x5D, 0x71, 0, 0x30] + Array([[UInt8]](repeating: step, count: 1001).joined()))
        let e = try XCTUnwrap(error)
        XCTAssertEqual(e.category, "deep_nesting", "\(e)")
    }

    func testMemoBombSaysMemo() throws {
        let (error, seconds) = run([0x4E] + [UInt8](repeating: 0x94, count: 1_000_001))   // None, MEMOIZE x 1e6+1
        let e = try XCTUnwrap(error)
        XCTAssertEqual(e.category, "pickle_memo", "\(e)")
        XCTAssertTrue(e.description.contains("memo grows past 1000000 entries"), "\(e)")
        XCTAssertLessThan(seconds, 10)
    }

    /// Values fetched from the memo count too: a list of a million references to one value.
    func testManyValuesSayValues() throws {
        var limits = ReadLimits()
        limits.maxObjects = 100_000
        let batch: [UInt8] = [0x28] + Array([[UInt8]](repeating: [0x68, 0], count: 1000).joined()) + [0x65]  // MARK, GET 0 x 1000, APPENDS
        let (error, _) = run([0x4E, 0x71, 0, 0x30, 0x5D] + Array([[UInt8]](repeating: batch, count: 200).joined()), limits: limits)
        let e = try XCTUnwrap(error)
        XCTAssertEqual(e.category, "pickle_objects", "\(e)")
        XCTAssertTrue(e.description.contains("pushes more than 100000 values, new or fetched from its memo"), "\(e)")
    }

    /// A 66 KB pickle that builds a 30,000-value list and then makes torch.Size of it 800
    /// times (24 million values copied): refused as the copies are counted, once they pass
    /// 100,000 plus 4 per byte read (about 340,000 here), not after the 2 million that
    /// `maxObjects` allows (66 copies, 1.1 s and 162 MB in the fuzzer's case).
    func testCopiesOfAMemoizedListAreCountedAsTheyGo() throws {
        var body: [UInt8] = [0x5D, 0x28] + Array([[UInt8]](repeating: [0x4B, 7], count: 30000).joined()) + [0x65, 0x71, 1, 0x30]
        body += [0x63] + Array("torch\nSize\n".utf8) + [0x71, 2, 0x30] + [0x5D]    // GLOBAL torch.Size, PUT 2; out = []
        let head = body.count
        for _ in 0..<800 { body += [0x68, 2, 0x68, 1, 0x85, 0x52, 0x61] }            // GET 2, GET 1, TUPLE1, REDUCE, APPEND
        let (error, _) = run(body)
        let e = try XCTUnwrap(error)
        XCTAssertEqual(e.category, "pickle_objects", "\(e)")
        guard case .pickleObjects(_, let limit, let offset) = e else { return XCTFail("\(e)") }
        XCTAssertLessThan(limit, 400_000, "\(e)")
        XCTAssertLessThan(offset, 2 + head + 7 * 12, "refused within the first dozen copies: \(e)")
        XCTAssertTrue(e.description.contains("grows by 4 per pickle byte read"), "\(e)")
        // The same list copied a few times is a real pickle's business: it reads.
        var few: [UInt8] = Array(body.prefix(head))
        for _ in 0..<3 { few += [0x68, 2, 0x68, 1, 0x85, 0x52, 0x61] }
        XCTAssertNil(run(few).0)
    }

    /// A tuple of a tuple shared twice, 200 times over: 2^200 leaves as a tree, 200 objects as
    /// the pickle shares them. Made, measured and released in linear time.
    func testSharedTuplesAreWalkedOnce() throws {
        var reader = ByteReader([0x80, 0x02, 0x5D, 0x29] + Array([[UInt8]](repeating: [0x32, 0x86], count: 200).joined()) + [0x61, 0x2E],
                                path: "p.pth")                                         // [], (), (DUP, TUPLE2) x 200, APPEND
        var vm = PickleMachine(path: "p.pth") { _ in .none }
        let start = Date()
        var v: PyValue? = try vm.load(&reader)
        XCTAssertEqual(v?.elements?.first?.depth, 201)
        v = nil
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }
}

