import Foundation
import XCTest
@testable import Checkpoint

/// Pickles whose object graph holds itself (`d = {}; d['a'] = d`, a list that appends itself,
/// either through another container): torch.load(weights_only=True) reads them, and so must
/// Graft, as torch does: a cycle is not nesting, and nothing traps, hangs or leaks.
final class CycleTests: XCTestCase {
    /// Runs a protocol-2 pickle body; returns the value and the arena that holds its containers.
    func run(_ body: [UInt8], limits: ReadLimits = ReadLimits()) throws -> (PyValue, PickleArena) {
        var reader = ByteReader([0x80, 0x02] + body + [0x2E], path: "p.pth")
        let arena = PickleArena()
        var vm = PickleMachine(path: "p.pth", limits: limits, arena: arena) { _ in .none }
        return (try vm.load(&reader), arena)
    }

    // Opcodes: } EMPTY_DICT, ] EMPTY_LIST, q BINPUT, h BINGET, s SETITEM, a APPEND, X... strings.
    static let dictHoldsItself: [UInt8] = [0x7D, 0x71, 0, 0x8C, 1, 0x61, 0x68, 0, 0x73]       // d = {}; d['a'] = d
    static let listHoldsItself: [UInt8] = [0x5D, 0x71, 0, 0x68, 0, 0x61]                     // l = []; l.append(l)
    static let dictThroughList: [UInt8] = [0x7D, 0x71, 0, 0x8C, 1, 0x6C, 0x5D, 0x68, 0, 0x61, 0x73]  // d = {}; d['l'] = [d]

    func testDictHoldingItselfReadsAsTorchReadsIt() throws {
        let (v, arena) = try run(Self.dictHoldsItself)
        defer { arena.release() }
        let d = try XCTUnwrap(v.asDict)
        XCTAssertTrue(d["a"]?.asDict === d)
        XCTAssertEqual(v.depth, 1, "a cycle is not nesting")
    }

    func testListHoldingItselfReadsAsTorchReadsIt() throws {
        let (v, arena) = try run(Self.listHoldsItself)
        defer { arena.release() }
        guard case .list(let l) = v, case .list(let inner)? = l.items.first else { return XCTFail("\(v.typeName)") }
        XCTAssertTrue(inner === l)
        XCTAssertEqual(v.depth, 1)
    }

    func testCycleThroughAnotherContainer() throws {
        let (v, arena) = try run(Self.dictThroughList)
        defer { arena.release() }
        let d = try XCTUnwrap(v.asDict)
        guard case .list(let l)? = d["l"], l.items.count == 1 else { return XCTFail("d['l'] is not a one-item list") }
        XCTAssertTrue(l.items[0].asDict === d)
    }

    /// 5000 self-appends, one at a time and in APPENDS batches: still one level deep, within
    /// every limit (the 1000-level nesting limit would refuse it if cycles counted as nesting).
    func testManySelfReferencesAreNotNesting() throws {
        let one: [UInt8] = [0x68, 0, 0x61]                                                    // BINGET 0, APPEND
        let batch: [UInt8] = [0x28] + Array([[UInt8]](repeating: [0x68, 0], count: 500).joined()) + [0x65]  // MARK, GET 0 x 500, APPENDS
        let body: [UInt8] = [0x5D, 0x71, 0] + Array([[UInt8]](repeating: one, count: 2500).joined())
            + Array([[UInt8]](repeating: batch, count: 5).joined())
        let (v, arena) = try run(body)
        defer { arena.release() }
        XCTAssertEqual(v.elements?.count, 5000)
        XCTAssertEqual(v.depth, 1)
    }

    /// Releasing the arena frees what the cycles would keep alive.
    func testArenaReleaseFreesCycles() throws {
        weak var dict: PyDict?
        weak var list: PyList?
        do {
            let (v, arena) = try run(Self.dictThroughList)
            dict = v.asDict
            if case .list(let l)? = v.asDict?["l"] { list = l }
            XCTAssertNotNil(dict)
            XCTAssertNotNil(list)
            arena.release()
        }
        XCTAssertNil(dict, "the dict in a cycle was not freed")
        XCTAssertNil(list, "the list in a cycle was not freed")
    }

    /// The files real torch.save wrote (Fixtures/gen_cycles.py): a state dict inside a dict
    /// that holds itself reads as torch reads it; a bare cycle has no state dict, and says so.
    func testTorchWrittenCycles() throws {
        let manifest = try FixtureManifest.load("cycles")
        XCTAssertEqual(try checkGoodFixtures(in: "cycles"), 2)
        var refused = 0
        for (name, entry) in manifest.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(entry["torch_weights_only"] as? Bool, true, "\(name): torch reads it")
            guard let category = entry["error"] as? String else { continue }
            let path = FixtureManifest.path(name, in: "cycles")
            for allowObjects in [false, true] {
                do {
                    _ = try Checkpoint(contentsOf: path, options: LoadOptions(allowObjects: allowObjects))
                    XCTFail("\(name): read without error")
                } catch let e as CheckpointError {
                    XCTAssertEqual(e.category, category, "\(name): \(e)")
                    XCTAssertTrue(e.description.contains(path), "\(name): \(e)")
                }
            }
            refused += 1
        }
        XCTAssertEqual(refused, 5)
    }
}
