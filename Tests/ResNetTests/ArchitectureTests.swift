import Random
import Checkpoint
import Engine
import Models
import Foundation
import TestSupport
import XCTest

/// Architecture detection from state-dict keys and shapes, and refusal of foreign layouts.
final class ArchitectureTests: XCTestCase {
    /// torchvision's own keys and shapes (Fixtures/models/torchvision_keys.json, from torchvision).
    func torchvisionKeys() throws -> [String: [(key: String, shape: [Int])]] {
        let url = ModelFixture.root.appendingPathComponent("torchvision_keys.json")
        let raw = try ExactJSON.object(with: Data(contentsOf: url)) as! [String: [[Any]]]
        return raw.mapValues { $0.map { ($0[0] as! String, ($0[1] as! [NSNumber]).map(\.intValue)) } }
    }

    func testTorchvisionArchitecturesAreDetected() throws {
        let table = try torchvisionKeys()
        let want: [String: (BlockKind, [Int], Int)] = [
            "resnet18": (.basic, [2, 2, 2, 2], 1000), "resnet34": (.basic, [3, 4, 6, 3], 10),
            "resnet50": (.bottleneck, [3, 4, 6, 3], 1000), "resnet101": (.bottleneck, [3, 4, 23, 3], 1000),
            "resnet152": (.bottleneck, [3, 8, 36, 3], 1000), "resnext50_32x4d": (.bottleneck, [3, 4, 6, 3], 1000),
            "resnext101_32x8d": (.bottleneck, [3, 4, 23, 3], 1000), "wide_resnet50_2": (.bottleneck, [3, 4, 6, 3], 1000),
        ]
        XCTAssertEqual(Set(table.keys), Set(want.keys))
        for (name, shapes) in table {
            let arch = try Architecture.detect(shapes)
            let spec = ResNetSpec.read(shapes)
            XCTAssertEqual(arch.name, name)
            XCTAssertEqual(spec.block, want[name]!.0, name)
            XCTAssertEqual(spec.layers, want[name]!.1, name)
            XCTAssertEqual(arch.numClasses, want[name]!.2, name)
            // Our expectation is torchvision's state_dict exactly: keys, order and shapes.
            let ours = arch.tensors
            XCTAssertEqual(ours.map(\.key), shapes.map(\.key), name)
            XCTAssertEqual(ours.map(\.shape), shapes.map(\.shape), name)
            // num_batches_tracked is optional.
            let without = shapes.filter { !$0.key.hasSuffix("num_batches_tracked") }
            XCTAssertLessThan(without.count, shapes.count)
            XCTAssertEqual(try Architecture.detect(without).tensors.map(\.key), ours.map(\.key), name)
            XCTAssertEqual(ResNetSpec.read(without), spec, name)
        }
        XCTAssertEqual(ResNetSpec.torchvision(.bottleneck, layers: [3, 4, 6, 3]).name, "resnet50")
        XCTAssertEqual(ResNetSpec.torchvision(.basic, layers: [1, 1, 1, 1]).name, "resnet(custom)")
        // Narrow widths keep the depth's name (as Checkpoint's ArchitectureGuess does); grouped or
        // wider 3x3 convs at non-torchvision widths do not.
        var narrow = ResNetSpec(block: .bottleneck, layers: [3, 4, 6, 3], stemWidth: 8, planes: [8, 16, 32, 64],
                                widths: [8, 16, 32, 64], groups: 1)
        XCTAssertEqual(narrow.name, "resnet50")
        narrow.groups = 2
        XCTAssertEqual(narrow.name, "resnet(custom)")
        narrow.groups = 1; narrow.widths = [16, 32, 64, 128]
        XCTAssertEqual(narrow.name, "resnet(custom)")
        XCTAssertEqual(ResNetSpec.torchvision(.bottleneck, layers: [3, 4, 6, 3], groups: 2, widthPerGroup: 64).name, "resnet(custom)")
    }

    func testClassCountAndCustomLayoutsFromFixtures() throws {
        let basic = try ModelFixture.load("basic_w8")
        let m = try InferenceModel(stateDict: basic.stateDict)
        XCTAssertEqual(m.name, "resnet(custom)")
        XCTAssertEqual(m.numClasses, 5)
        let spec = ResNetSpec.read(basic.stateDict.items.map { ($0.key, $0.value.shape) })
        XCTAssertEqual(spec.block, .basic)
        XCTAssertEqual(spec.layers, [2, 1, 2, 1])
        XCTAssertEqual(spec.planes, [8, 16, 32, 64])

        let g2 = try ModelFixture.load("bottleneck_g2")
        let s = ResNetSpec.read(g2.stateDict.items.map { ($0.key, $0.value.shape) })
        XCTAssertEqual(s.block, .bottleneck)
        XCTAssertEqual(s.groups, 2)
        XCTAssertEqual(try Architecture.detect(g2.stateDict).numClasses, 4)
        XCTAssertEqual(s.layers, [1, 1, 1, 1])

        // A different head size is read from fc.weight.
        var sd = basic.stateDict
        sd["fc.weight"] = TensorData(shape: [9, 64], floats: [Float](repeating: 0.01, count: 9 * 64))
        sd["fc.bias"] = TensorData(shape: [9], floats: [Float](repeating: 0, count: 9))
        XCTAssertEqual(try InferenceModel(stateDict: sd).numClasses, 9)
    }

    /// End to end from a real .pth (Checkpoint's reader): torchvision resnet18 structure at width 2.
    func testModelFromPthFile() throws {
        let path = ModelFixture.root.deletingLastPathComponent().appendingPathComponent("checkpoints/tiny_basic.pth").path
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "no \(path)")
        let ckpt = try Checkpoint(contentsOf: path)
        let model = try InferenceModel(stateDict: ckpt.stateDict)
        XCTAssertEqual(model.name, "resnet18")
        XCTAssertEqual(model.name, ArchitectureGuess(ckpt.stateDict).name)
        XCTAssertEqual(model.numClasses, 5)
        let p = try model.probabilities(images: [Float](repeating: 0.5, count: 2 * 3 * 32 * 32), batch: 2, height: 32, width: 32)
        XCTAssertEqual(p.count, 10)
        XCTAssertEqual(Double(p[0..<5].reduce(0, +)), 1, accuracy: 1e-5)
    }

    func testMissingAndUnexpectedKeysAreListed() throws {
        var sd = try ModelFixture.load("bottleneck_w8").stateDict
        sd["layer2.1.bn1.running_var"] = nil
        sd["layer3.0.downsample.0.weight"] = nil
        sd["layer2.0.extra.weight"] = TensorData(shape: [1], floats: [0])
        sd["module.fc.weight"] = TensorData(shape: [1], floats: [0])
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(_, missing, unexpected, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(Set(missing), ["layer2.1.bn1.running_var", "layer3.0.downsample.0.weight"])
            XCTAssertEqual(Set(unexpected), ["layer2.0.extra.weight", "module.fc.weight"])
            XCTAssertEqual(wrong, [])
            let text = "\(error)"
            for k in ["layer2.1.bn1.running_var", "layer3.0.downsample.0.weight", "layer2.0.extra.weight", "module.fc.weight"] {
                XCTAssertTrue(text.contains(k), text)
            }
        }
    }

    func testWrongShapeIsRefused() throws {
        var sd = try ModelFixture.load("basic_w8").stateDict
        sd["layer1.1.conv2.weight"] = TensorData(shape: [8, 8, 5, 5], floats: [Float](repeating: 0, count: 8 * 8 * 25))
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(_, missing, unexpected, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(missing, []); XCTAssertEqual(unexpected, [])
            XCTAssertEqual(wrong.map(\.key), ["layer1.1.conv2.weight"])
            XCTAssertEqual(wrong.first?.expected, [8, 8, 3, 3])
        }
    }

    func testForeignStateDictIsRefused() throws {
        let sd = StateDict([("encoder.0.weight", TensorData(shape: [64, 3, 3, 3], floats: [Float](repeating: 0, count: 1728))),
                            ("head.0.weight", TensorData(shape: [10, 64], floats: [Float](repeating: 0, count: 640)))])
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(_, missing, unexpected, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(missing.contains("conv1.weight"))
            XCTAssertTrue(missing.contains("fc.weight"))
            XCTAssertEqual(Set(unexpected), ["encoder.0.weight", "head.0.weight"])
        }
        XCTAssertThrowsError(try InferenceModel(stateDict: StateDict()))
    }

    func testIntegerWeightIsRefused() throws {
        var sd = try ModelFixture.load("basic_w8").stateDict
        sd["fc.bias"] = TensorData(shape: [5], int64s: [1, 2, 3, 4, 5])
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            XCTAssertEqual(error as? ModelError, .unsupportedDType(key: "fc.bias", dtype: "int64"))
        }
    }

    /// A full-width resnet18 (random weights) runs end to end on a small image, in f32.
    func testRealWidthResNet18Runs() throws {
        _ = try realWidthResNet18Logits()
    }

    /// The same in bf16, within 0.1 of the f32 logits (AVX-512 CPUs only).
    func testRealWidthResNet18RunsInBF16() throws {
        try skipUnlessBF16()
        let (l, x, s) = try realWidthResNet18Logits()
        let lb = try InferenceModel(stateDict: randomStateDict(shapes: s.tensors), precision: .bf16)
            .logits(images: x, batch: 1, height: 64, width: 80)
        XCTAssertLessThanOrEqual(maxRelativeError(lb, l, rows: 1), 0.1)
    }

    func realWidthResNet18Logits() throws -> (logits: [Float], input: [Float], spec: Architecture) {
        let s = ResNetFamily().architecture(ResNetSpec.torchvision(.basic, layers: [2, 2, 2, 2]), head: .linear(classes: 1000))
        let model = try InferenceModel(stateDict: randomStateDict(shapes: s.tensors))
        XCTAssertEqual(model.name, "resnet18")
        XCTAssertEqual(model.numClasses, 1000)
        var r = SeededRandom(seed: 3)
        let x = (0..<(3 * 64 * 80)).map { _ in 2 * r.rand() - 1 }
        let l = try model.logits(images: x, batch: 1, height: 64, width: 80)
        XCTAssertEqual(l.count, 1000)
        XCTAssertTrue(l.allSatisfy(\.isFinite))
        XCTAssertGreaterThan(l.max()! - l.min()!, 0)
        let p = try model.probabilities(images: x, batch: 1, height: 64, width: 80)
        XCTAssertEqual(Double(p.reduce(0, +)), 1, accuracy: 1e-4)
        return (l, x, s)
    }

    func testBadInputSizesAreRefused() throws {
        let f = try ModelFixture.load("basic_w8")
        let m = try InferenceModel(stateDict: f.stateDict)
        XCTAssertThrowsError(try m.logits(images: f.input, batch: 2, height: 64, width: 64))
        XCTAssertThrowsError(try m.logits(images: [], batch: 0, height: 64, width: 64))
    }
}
