import Checkpoint
import Engine
import Models
import TestSupport
import XCTest

/// Agreement with real PyTorch logits (Fixtures/gen_models.py).
final class ResNetForwardTests: XCTestCase {
    func checkF32(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try ModelFixture.load(name)
        let model = try InferenceModel(stateDict: f.stateDict)
        XCTAssertEqual(model.numClasses, f.meta.classes, file: file, line: line)
        let logits = try model.logits(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
        XCTAssertEqual(logits.count, f.logits.count, file: file, line: line)
        let rel = maxRelativeError(logits, f.logits, rows: f.meta.batch)
        print("\(name) f32: max relative error \(rel), max abs \(maxAbsError(logits, f.logits))")
        XCTAssertLessThanOrEqual(rel, 1e-4, "\(name): logits differ from PyTorch", file: file, line: line)

        let probs = try model.probabilities(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
        let probErr = maxAbsError(probs, f.probs)
        print("\(name) f32: max abs probability error \(probErr)")
        XCTAssertLessThanOrEqual(probErr, 1e-5, "\(name): probabilities differ from PyTorch", file: file, line: line)

        // A second batch through the same (now cached) primitives gives the same answer.
        let again = try model.logits(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
        XCTAssertEqual(again, logits, file: file, line: line)
    }

    /// The unfused graph (separate conv, batch norm, add and ReLU ops) agrees too, and with the folded one.
    func testUnfusedGraphMatchesPyTorch() throws {
        for name in ["basic_w8", "bottleneck_w8", "bottleneck_g2"] {
            let f = try ModelFixture.load(name)
            let unfused = try InferenceModel(stateDict: f.stateDict, foldBatchNorm: false)
            XCTAssertFalse(unfused.foldsBatchNorm)
            let l = try unfused.logits(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
            let rel = maxRelativeError(l, f.logits, rows: f.meta.batch)
            print("\(name) unfused f32: max relative error \(rel)")
            XCTAssertLessThanOrEqual(rel, 1e-4, name)
        }
    }

    func testBasicBlockF32MatchesPyTorch() throws { try checkF32("basic_w8") }
    func testBottleneckF32MatchesPyTorch() throws { try checkF32("bottleneck_w8") }
    func testGroupedBottleneckF32MatchesPyTorch() throws { try checkF32("bottleneck_g2") }

    /// Single images give the same logits as the batch they came from (per-shape primitives).
    func testBatchSizeOneMatchesBatchRows() throws {
        let f = try ModelFixture.load("basic_w8")
        let model = try InferenceModel(stateDict: f.stateDict)
        let per = 3 * f.meta.height * f.meta.width
        for i in 0..<f.meta.batch {
            let one = Array(f.input[(i * per)..<((i + 1) * per)])
            let l = try model.logits(images: one, batch: 1, height: f.meta.height, width: f.meta.width)
            let want = Array(f.logits[(i * f.meta.classes)..<((i + 1) * f.meta.classes)])
            XCTAssertLessThanOrEqual(maxRelativeError(l, want, rows: 1), 1e-4)
        }
    }

    /// Activations stay in oneDNN's layout from the first conv to the pooling: no reorder between
    /// conv layers, on any ISA (f32, and bf16 where the CPU has it). Which edge reorders depends
    /// on the kernels: AVX-512 reorders the NCHW input into 16-channel blocks; AVX2's first conv
    /// reads NCHW and the 8-channel-blocked pooled features are reordered before fc instead.
    func testActivationsStayInOneDNNLayoutBetweenLayers() throws {
        let f = try ModelFixture.load("basic_w8")  // batch 3: no weight tensor has 3 rows
        let input = [f.meta.batch, 3, f.meta.height, f.meta.width]
        func check(_ precision: Precision, calibration: Calibration? = nil) throws {
            let engine = try CPUEngine()
            let model = try InferenceModel(stateDict: f.stateDict, precision: precision, calibration: calibration, engine: engine)
            _ = try model.logits(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
            let activationReorders = engine.reorderPairs.filter { $0.source.dims.first == f.meta.batch }
            let described = activationReorders.map { "\($0.source) -> \($0.destination)" }
            // Between conv layers: a 4-d activation with more than the image's 3 channels and
            // more than 1x1 pixels (the pooled features are 1x1).
            let between = activationReorders.filter {
                let d = $0.source.dims
                return d.count == 4 && d != input && d[2] * d[3] > 1
            }
            XCTAssertEqual(between.count, 0, "\(precision), \(CPUCapabilities.current.isa): reorders between layers: \(described)")
            XCTAssertLessThanOrEqual(activationReorders.filter { $0.source.dims == input }.count, 1, "\(precision): \(described)")
            XCTAssertLessThanOrEqual(activationReorders.count, 2, "\(precision): at most the input and the pooled features: \(described)")
            XCTAssertGreaterThan(engine.reorderPairs.count, 1)  // the weights were reordered
        }
        for precision in [Precision.f32, .bf16] where precision != .bf16 || CPUCapabilities.current.bf16 != .unavailable {
            try check(precision)
        }
        // int8 (where it runs): its activations stay int8 in oneDNN's layout between its convs too.
        if CPUCapabilities.current.int8Fast {
            let f32 = try InferenceModel(stateDict: f.stateDict)
            let recorder = RangeRecorder()
            try f.input.withUnsafeBufferPointer { try recorder.run(f32, images: $0, batch: f.meta.batch, height: f.meta.height, width: f.meta.width) }
            try check(.int8, calibration: recorder.calibration(of: f32, weightsSHA256: "x", method: .max, imageSize: f.meta.height))
        }
    }

    /// Where oneDNN has no bf16 kernels (AVX2), a bf16 model is refused when it is built, with
    /// the typed error, not at the first image. (Runs in `make test`'s AVX2 pass.)
    func testBF16IsRefusedAtConstructionWhereTheCPUHasNone() throws {
        let cpu = CPUCapabilities.current
        guard cpu.bf16 == .unavailable else {
            throw XCTSkip("this CPU (\(cpu.isa)) runs bf16 \(cpu.bf16.rawValue); the refusal is checked under ONEDNN_MAX_CPU_ISA=AVX2")
        }
        let f = try ModelFixture.load("basic_w8")
        XCTAssertThrowsError(try InferenceModel(stateDict: f.stateDict, precision: .bf16)) {
            XCTAssertEqual($0 as? EngineError, .bf16Unavailable(isa: cpu.isa))
            XCTAssertTrue("\($0)".contains("AVX-512"), "\($0)")
        }
        XCTAssertThrowsError(try Network(stateDict: f.stateDict, head: .keep, seed: 1, precision: .bf16)) {
            XCTAssertEqual($0 as? EngineError, .bf16Unavailable(isa: cpu.isa))
        }
        let trainable = try Network(stateDict: f.stateDict, head: .keep, seed: 1)
        XCTAssertThrowsError(try trainable.setPrecision(.bf16))
        XCTAssertEqual(trainable.precision, .f32)
        XCTAssertNoThrow(try Precision.f32.requireSupport())
    }

    /// bf16 weights and activations: within the error PyTorch's own bf16 autocast shows.
    func checkBF16(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try skipUnlessBF16()
        let f = try ModelFixture.load(name)
        let model = try InferenceModel(stateDict: f.stateDict, precision: .bf16)
        let logits = try model.logits(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
        let ours = maxAbsError(logits, f.logits)
        let torch = maxAbsError(f.logitsBF16, f.logits)
        print("\(name) bf16: max abs error vs f32 \(ours) (PyTorch autocast: \(torch)), relative \(maxRelativeError(logits, f.logits, rows: f.meta.batch))")
        XCTAssertLessThanOrEqual(ours, 3 * torch, "\(name): bf16 error larger than 3x PyTorch autocast's", file: file, line: line)
        // And it really ran in bf16: not bit-identical to the f32 path.
        let f32 = try InferenceModel(stateDict: f.stateDict).logits(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
        XCTAssertGreaterThan(maxAbsError(logits, f32), 1e-5, "bf16 path gave f32 results", file: file, line: line)
        // The unfused graph in bf16 (batch norm and add on bf16 activations) too.
        let unfused = try InferenceModel(stateDict: f.stateDict, precision: .bf16, foldBatchNorm: false)
            .logits(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
        print("\(name) unfused bf16: max abs error vs f32 \(maxAbsError(unfused, f.logits))")
        XCTAssertLessThanOrEqual(maxAbsError(unfused, f.logits), 3 * torch, "\(name): unfused bf16", file: file, line: line)
    }

    func testBasicBlockBF16() throws { try checkBF16("basic_w8") }
    func testBottleneckBF16() throws { try checkBF16("bottleneck_w8") }
    func testGroupedBottleneckBF16() throws { try checkBF16("bottleneck_g2") }
}
