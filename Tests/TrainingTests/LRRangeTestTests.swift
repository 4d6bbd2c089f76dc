import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest
@testable import Training

/// `--find-lr`'s arithmetic against Fixtures/lr_find/expected.json (Fixtures/gen_lr_find.py:
/// fastai's LRFinder, Recorder, AvgSmoothLoss and suggestion functions re-implemented on real
/// torch tensors): the rates, the smoothed losses and the stop, bit for bit; the suggestions
/// exactly; and a few range-test steps of a tiny ResNet against torch's.
final class LRRangeTestTests: XCTestCase {
    struct Schedule: Decodable { let start: Double, end: Double, steps: Int, lrs: [Double] }
    struct Point: Decodable { let lr: Double?, point_lr: Double?, point_loss: Double?, fastai_fails: String? }
    struct Suggested: Decodable { let kept: Int, valley: Point, minimum: Point, steep: Point }
    struct CurveSettings: Decodable { let start: Double, end: Double, steps: Int, stop_div: Bool }
    struct Curve: Decodable {
        let settings: CurveSettings, raw: [Float], lrs: [Double], smoothed: [Float], stop: String, suggestions: Suggested
    }
    struct Steps: Decodable { let start: Double, end: Double, steps: Int, lrs: [Double], losses: [Float], smoothed: [Float], stop: String }
    struct Expected: Decodable { let schedules: [Schedule], curves: [String: Curve], steps: [String: Steps] }

    static let expected: Expected = {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try! d.decode(Expected.self, from: Data(contentsOf: FixturePaths.url("lr_find/expected.json")))
    }()

    /// Float equality that counts NaN as equal to NaN (the fixtures' NaN losses).
    func same(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }

    func testRatesAreFastaisSchedExpBitForBit() {
        XCTAssertEqual(Self.expected.schedules.count, 3)
        for s in Self.expected.schedules {
            let ours = (0..<s.steps).map { LRRangeTest.rate(step: $0, start: s.start, end: s.end, steps: s.steps) }
            XCTAssertEqual(ours.count, s.lrs.count)
            XCTAssertEqual(ours.map(\.bitPattern), s.lrs.map(\.bitPattern), "\(s.start)...\(s.end) in \(s.steps)")
        }
        // The default test: 1e-7 first, the last step just below 10 (fastai never reaches end_lr).
        let t = LRRangeTest()
        XCTAssertEqual(t.nextRate, 1e-7)
        XCTAssertEqual(LRRangeTest.rate(step: 99, start: 1e-7, end: 10, steps: 100), 1e-7 * pow(1e8, 0.99))
    }

    func testSmoothingStopAndRecordsMatchFastai() throws {
        XCTAssertEqual(Self.expected.curves.count, 12)
        for (name, c) in Self.expected.curves.sorted(by: { $0.key < $1.key }) {
            var t = LRRangeTest(.init(start: c.settings.start, end: c.settings.end, steps: c.settings.steps, stopOnDivergence: c.settings.stop_div))
            var fed = 0
            while !t.finished {
                XCTAssertLessThan(fed, c.raw.count, "\(name): the test wants more steps than fastai took")
                guard fed < c.raw.count else { break }
                t.record(loss: c.raw[fed]); fed += 1
            }
            XCTAssertEqual(t.lrs.map(\.bitPattern), c.lrs.map(\.bitPattern), name)
            XCTAssertTrue(same(t.smoothed, c.smoothed), "\(name): \(t.smoothed.prefix(5)) vs \(c.smoothed.prefix(5))")
            XCTAssertEqual(t.stop?.rawValue, c.stop, name)
            XCTAssertEqual(t.losses.count, t.lrs.count)
        }
    }

    /// The suggestions from fastai's own smoothed records (so this checks the suggestion code
    /// alone), and from ours (the whole chain).
    func testSuggestionsMatchFastai() throws {
        for (name, c) in Self.expected.curves.sorted(by: { $0.key < $1.key }) {
            let e = c.suggestions
            XCTAssertEqual(LRRangeTest.kept(lrs: c.lrs, losses: c.smoothed, numIt: c.settings.steps).lrs.count, e.kept, name)
            let fromFixture = LRRangeTest.suggestions(lrs: c.lrs, losses: c.smoothed, numIt: c.settings.steps)
            var t = LRRangeTest(.init(start: c.settings.start, end: c.settings.end, steps: c.settings.steps, stopOnDivergence: c.settings.stop_div))
            for loss in c.raw where !t.finished { t.record(loss: loss) }
            XCTAssertEqual(t.suggestions, fromFixture, name)
            guard e.valley.fastai_fails == nil else {
                // fastai raises on an empty list; Graft suggests nothing.
                XCTAssertEqual(e.kept, 0, name)
                XCTAssertNil(fromFixture, name)
                continue
            }
            let s = try XCTUnwrap(fromFixture, name)
            for (ours, theirs, which) in [(s.valley, e.valley, "valley"), (s.minimum, e.minimum, "minimum"), (s.steep, e.steep, "steep")] {
                if theirs.fastai_fails != nil {
                    // One kept record: torch.argmin of no slopes fails in fastai; Graft takes that record's rate.
                    XCTAssertEqual(e.kept, 1, "\(name) \(which)")
                    XCTAssertEqual(ours.lr, Double(Float(c.lrs[c.settings.steps / 10])), "\(name) \(which)")
                    continue
                }
                XCTAssertEqual(ours.lr, theirs.lr, "\(name) \(which)")
                XCTAssertEqual(ours.pointLR, theirs.point_lr, "\(name) \(which)")
                XCTAssertEqual(ours.pointLoss, theirs.point_loss, "\(name) \(which)")
            }
        }
    }

    /// Hand-made cases of the suggestion functions' corners.
    func testSuggestionCorners() {
        // A strictly falling curve of two: fastai's valley index is -1, Python's last element.
        XCTAssertEqual(LRRangeTest.valley(lrs: [1, 2], losses: [3, 2]).lr, 2)
        // torch.argmin: a NaN is the minimum; otherwise the first of equal minima.
        XCTAssertEqual(LRRangeTest.argmin([3, .nan, 1]), 1)
        XCTAssertEqual(LRRangeTest.argmin([3, 1, 1]), 1)
        // A flat curve has no valley: its first record.
        XCTAssertEqual(LRRangeTest.valley(lrs: [1, 2, 3, 4], losses: [5, 5, 5, 5]).lr, 1)
        // Too few records: none kept ([steps/10 ..< count - 5]), no suggestion.
        XCTAssertNil(LRRangeTest.suggestions(lrs: [1, 2, 3, 4, 5], losses: [1, 1, 1, 1, 1], numIt: 100))
    }

    /// A few range-test steps of a tiny ResNet (Fixtures/training/basic, every parameter
    /// training, batch norm in train mode, the same batch every step) with Adam and SGD at the
    /// test's rising rates: each step's loss and smoothed loss as torch's.
    func testStepsOfATinyModelMatchTorch() throws {
        let dir = FixturePaths.url("training/basic")
        struct Meta: Decodable { let batch: Int, height: Int, width: Int, labels: [Int], classes: Int }
        struct Entry: Decodable { let name: String; let shape: [Int]; let offset: Int }
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
        func floats(_ name: String) throws -> [Float] {
            let d = try Data(contentsOf: dir.appendingPathComponent(name))
            return d.withUnsafeBytes { raw in (0..<d.count / 4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
        }
        let input = try floats("input.bin"), headValues = try floats("head_init.bin")
        let index = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: dir.appendingPathComponent("head_init.bin.json")))
        let state = try Checkpoint(contentsOf: dir.appendingPathComponent("initial.pth").path).stateDict
        XCTAssertEqual(Self.expected.steps.count, 2)
        for (name, e) in Self.expected.steps.sorted(by: { $0.key < $1.key }) {
            let model = try Network(stateDict: state, head: .replace(numClasses: meta.classes), seed: 1)
            for entry in index {
                let p = try XCTUnwrap(model.parameters.first { $0.name == entry.name })
                let n = entry.shape.reduce(1, *)
                _ = p.value.update(from: headValues[(entry.offset / 4)..<(entry.offset / 4 + n)])
            }
            model.freeze(.none)
            model.frozenBN = .train
            model.convolution = .direct
            model.dropoutEnabled = false
            let optimizer = Optimizer(name == "adam" ? OptimizerConfig(kind: .adam, lr: 1e-3) : OptimizerConfig(kind: .sgd, lr: 0.1, momentum: 0.9))
            var test = LRRangeTest(.init(start: e.start, end: e.end, steps: e.steps))
            while !test.finished {
                let (loss, _) = try input.withUnsafeBufferPointer {
                    try model.trainStep(images: $0, labels: meta.labels, batch: meta.batch, height: meta.height, width: meta.width)
                }
                optimizer.lr = test.nextRate
                optimizer.step(model.parameters)
                test.record(loss: loss)
            }
            XCTAssertEqual(test.stop?.rawValue, e.stop, name)
            XCTAssertEqual(test.lrs.map(\.bitPattern), e.lrs.map(\.bitPattern), name)
            // float32 steps of a conv net, compounded over 8 steps at rising rates: relative 2e-5
            // (measured 1.6e-6), against at least 1e-2 (SGD's last loss is near zero).
            let errors = zip(test.losses, e.losses).map { abs($0 - $1) / max(abs($1), 1e-2) }
            XCTAssertEqual(errors.count, e.losses.count, name)
            XCTAssertTrue(errors.allSatisfy { $0 <= 2e-5 }, "\(name): \(test.losses) vs \(e.losses); errors \(errors)")
            let smoothErrors = zip(test.smoothed, e.smoothed).map { abs($0 - $1) / abs($1) }
            XCTAssertTrue(smoothErrors.allSatisfy { $0 <= 2e-5 }, "\(name): \(smoothErrors)")
            print("lr_find \(name): largest loss error \(errors.max()!), smoothed \(smoothErrors.max()!)")
        }
    }
}
