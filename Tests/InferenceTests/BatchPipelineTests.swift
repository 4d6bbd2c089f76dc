import Dispatch
import Foundation
import Synchronization
import XCTest
@testable import Inference

/// The overlapped loop itself: order, failures in place, the overlap, and its limits.
final class BatchPipelineTests: XCTestCase {
    /// What happened, in the order it happened, from both threads.
    final class Events: Sendable {
        private let list = Mutex<[String]>([])
        func add(_ e: String) { list.withLock { $0.append(e) } }
        var all: [String] { list.withLock { $0 } }
        func position(_ e: String) -> Int? { all.firstIndex(of: e) }
    }

    struct Failed: Error { let item: Int }

    func testBatchesReachTheBodyInOrderWhateverTheLoadsTake() {
        let pipeline = BatchPipeline(count: 7) { b -> Int in
            usleep(UInt32((b * 37) % 5) * 1000)   // uneven loads
            return b * 10
        }
        var seen: [Int] = [], loaded: [Int] = []
        pipeline.run { b, value in seen.append(b); loaded.append(value) }
        XCTAssertEqual(seen, Array(0..<7))
        XCTAssertEqual(loaded, (0..<7).map { $0 * 10 })
    }

    /// Items in batches of 3; item 4 fails to load: it is reported at its place and every other
    /// item gets its own result.
    func testAFailingItemIsReportedAtItsPlaceAndTheOthersSucceed() {
        let items = Array(0..<8)
        let batches = stride(from: 0, to: items.count, by: 3).map { Array(items[$0..<min($0 + 3, items.count)]) }
        let pipeline = BatchPipeline(count: batches.count) { b -> [Result<Int, Failed>] in
            batches[b].map { $0 == 4 ? .failure(Failed(item: $0)) : .success($0 * $0) }
        }
        var results: [(Int, Result<Int, Failed>)] = []
        pipeline.run { b, loaded in
            for (item, r) in zip(batches[b], loaded) { results.append((item, r)) }
        }
        XCTAssertEqual(results.map(\.0), items, "every item, in input order")
        for (item, r) in results {
            switch r {
            case .success(let v): XCTAssertNotEqual(item, 4); XCTAssertEqual(v, item * item)
            case .failure(let e): XCTAssertEqual(item, 4); XCTAssertEqual(e.item, 4)
            }
        }
    }

    /// load(b + 1) and body(b) run at the same time: each waits for the other to have started
    /// (with a timeout), which only succeeds when they overlap, whichever runs first otherwise.
    /// And load(b + 2) starts only after body(b) returned (the buffer rule of BatchBuffers).
    func testTheNextBatchLoadsWhileThisOneComputes() {
        let count = 5
        let events = Events()
        let loadStarted = (0..<count).map { _ in DispatchSemaphore(value: 0) }
        let bodyStarted = (0..<count).map { _ in DispatchSemaphore(value: 0) }
        let loadSawBody = Mutex<[Bool]>([])
        let pipeline = BatchPipeline(count: count) { b -> Int in
            events.add("load \(b) start")
            loadStarted[b].signal()
            if b > 0 {
                let met = bodyStarted[b - 1].wait(timeout: .now() + 5) == .success
                loadSawBody.withLock { $0.append(met) }
            }
            return b
        }
        var bodySawLoad: [Bool] = []
        pipeline.run { b, _ in
            events.add("body \(b) start")
            bodyStarted[b].signal()
            if b + 1 < count { bodySawLoad.append(loadStarted[b + 1].wait(timeout: .now() + 5) == .success) }
            events.add("body \(b) end")
        }
        XCTAssertEqual(bodySawLoad, Array(repeating: true, count: count - 1), "body b saw load b+1 start: \(events.all)")
        XCTAssertEqual(loadSawBody.withLock { $0 }, Array(repeating: true, count: count - 1), "load b+1 saw body b start: \(events.all)")
        let at = { (e: String) -> Int in events.position(e) ?? -1 }
        for b in 0..<count {
            XCTAssertGreaterThanOrEqual(at("body \(b) end"), 0)
            XCTAssertLessThan(at("load \(b) start"), at("body \(b) start"))
            if b + 1 < count {
                XCTAssertLessThan(at("load \(b + 1) start"), at("body \(b) end"), "load \(b + 1) starts before body \(b) returns: \(events.all)")
            }
            if b + 2 < count {
                XCTAssertGreaterThan(at("load \(b + 2) start"), at("body \(b) end"), "load \(b + 2) waits for body \(b): \(events.all)")
            }
        }
    }

    func testNoBatchesNoLoads() {
        let loads = Mutex(0)
        let pipeline = BatchPipeline(count: 0) { (_: Int) -> Int in loads.withLock { $0 += 1 }; return 0 }
        var bodies = 0
        pipeline.run { _, _ in bodies += 1 }
        XCTAssertEqual(bodies, 0)
        XCTAssertEqual(loads.withLock { $0 }, 0)
    }

    /// A body that throws stops the run, and the load under way has finished when run returns
    /// (nothing writes into a caller's buffers afterwards).
    func testAThrowingBodyStopsTheRunAfterTheLoadUnderWay() {
        let events = Events()
        let pipeline = BatchPipeline(count: 4) { b -> Int in
            events.add("load \(b) start")
            if b == 1 { usleep(50_000) }
            events.add("load \(b) end")
            return b
        }
        var bodies: [Int] = []
        XCTAssertThrowsError(try pipeline.run { b, _ in
            bodies.append(b)
            if b == 0 { throw Failed(item: b) }
        })
        XCTAssertEqual(bodies, [0])
        XCTAssertEqual(events.all, ["load 0 start", "load 0 end", "load 1 start", "load 1 end"])
    }

    func testBatchBuffersAlternate() {
        let buffers = BatchBuffers(capacity: 4)
        XCTAssertEqual(buffers.buffer(for: 0).baseAddress, buffers.buffer(for: 2).baseAddress)
        XCTAssertNotEqual(buffers.buffer(for: 0).baseAddress, buffers.buffer(for: 1).baseAddress)
        XCTAssertEqual(buffers.buffer(for: 1).count, 4)
    }
}
