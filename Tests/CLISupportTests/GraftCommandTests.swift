import CLISupport
import Checkpoint
import Foundation
import Models
import ONNX
import TestSupport
import XCTest

/// `graft`: every command as a subcommand (the same structs as the standalone executables),
/// `graft export --onnx`, and the layering that keeps training code out of the inference
/// commands.
final class GraftCommandTests: XCTestCase {
    static let subcommands = ["finetune", "predict", "batch_predict", "evaluate", "inspect", "export"]

    var dir: URL!

    override func setUpWithError() throws {
        dir = Scratch.root.appendingPathComponent("graft-cmd-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func graft(_ arguments: [String], in folder: URL? = nil) throws -> ProcessRun.Result {
        try ProcessRun.run(try ProcessRun.executable("graft"), arguments, currentDirectory: folder ?? dir)
    }

    func testHelpListsEverySubcommandWithItsAbstract() throws {
        let r = try graft(["--help"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let section = try XCTUnwrap(lines.firstIndex(of: "SUBCOMMANDS:"), r.stdout)
        let listed = lines[(section + 1)...].compactMap { line -> String? in
            // "  predict                 Classify images..." (the abstract's later lines are indented further).
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first else { return nil }
            return String(name)
        }
        XCTAssertEqual(Array(listed.prefix(Self.subcommands.count)), Self.subcommands, r.stdout)
        for name in Self.subcommands {
            let line = try XCTUnwrap(lines.first { $0.hasPrefix("  \(name) ") }, name)
            XCTAssertGreaterThan(line.dropFirst(2 + name.count).trimmingCharacters(in: .whitespaces).count, 10, "\(name) has an abstract")
        }
    }

    func testEverySubcommandsHelpWorksUnderGraft() throws {
        for name in Self.subcommands {
            for arguments in [[name, "--help"], ["help", name]] {
                let r = try graft(arguments)
                XCTAssertEqual(r.status, 0, "\(arguments): \(r.stderr)")
                XCTAssertTrue(r.stdout.contains("USAGE: graft \(name)"), "\(arguments): \(r.stdout)")
                XCTAssertTrue(r.stdout.contains("--version"), "\(arguments)")
            }
        }
    }

    /// `graft --version` as every command says it, and each subcommand's as typed.
    func testVersionOfGraftAndItsSubcommands() throws {
        let commit = try VersionAndCompletionTests.recordedCommit()
        let r = try graft(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "graft \(GraftVersion.number) (commit \(commit ?? "unknown"))\n")
        for name in Self.subcommands {
            let s = try graft([name, "--version"])
            XCTAssertEqual(s.status, 0, "\(name): \(s.stderr)")
            XCTAssertEqual(s.stdout, "graft \(name) \(GraftVersion.number) (commit \(commit ?? "unknown"))\n", name)
        }
    }

    /// The standalone executables keep their names: inspect_weights is not `inspect` on its own.
    func testStandaloneExecutablesKeepTheirNames() throws {
        for name in ["finetune", "predict", "batch_predict", "evaluate", "inspect_weights"] {
            let r = try ProcessRun.run(try ProcessRun.executable(name), ["--help"])
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("USAGE: \(name) "), "\(name): \(r.stdout)")
            XCTAssertFalse(r.stdout.contains("USAGE: graft"), "\(name): \(r.stdout)")
        }
    }

    /// Each `graft` subcommand runs the same code as its executable: the same output.
    func testInspectUnderGraftIsInspectWeights() throws {
        let file = FixturePaths.path("predict/basic.pth")
        let alone = try ProcessRun.run(try ProcessRun.executable("inspect_weights"), ["--json", file])
        let sub = try graft(["inspect", "--json", file])
        XCTAssertEqual(alone.status, 0, alone.stderr)
        XCTAssertEqual(sub.status, 0, sub.stderr)
        XCTAssertEqual(sub.stdout, alone.stdout)
    }

    // MARK: graft export

    /// Exports `weights` (with `classIndices`) into `dir`, checks the file's structure against
    /// the checkpoint, and returns the model.
    @discardableResult
    func checkExport(weights: String, classIndices: String, classes: [String], name: String,
                     file: StaticString = #filePath, line: UInt = #line) throws -> Onnx_ModelProto {
        let out = dir.appendingPathComponent("\(name).onnx")
        let r = try graft(["export", "--weights", weights, "--class-indices", classIndices, "--onnx", out.path])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stdout, "", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("graft: wrote \(out.path): "), r.stderr, file: file, line: line)
        let model = try Onnx_ModelProto(serializedBytes: Data(contentsOf: out))

        XCTAssertEqual(model.irVersion, 8, file: file, line: line)
        XCTAssertEqual(model.opsetImport.map(\.version), [17], file: file, line: line)
        XCTAssertEqual(model.opsetImport.map(\.domain), [""], file: file, line: line)
        XCTAssertEqual(model.producerName, "graft", file: file, line: line)
        XCTAssertEqual(model.producerVersion, GraftVersion.number, file: file, line: line)

        // Input `image` [batch, 3, 224, 224], output `logits` [batch, classes]: the batch symbolic.
        func dims(_ v: Onnx_ValueInfoProto) -> [String] {
            v.type.tensorType.shape.dim.map { $0.dimParam.isEmpty ? "\($0.dimValue)" : $0.dimParam }
        }
        XCTAssertEqual(model.graph.input.map(\.name), ["image"], file: file, line: line)
        XCTAssertEqual(model.graph.input.first.map(dims), ["batch", "3", "224", "224"], file: file, line: line)
        XCTAssertEqual(model.graph.input.first?.type.tensorType.elemType, Int32(Onnx_TensorProto.DataType.float.rawValue), file: file, line: line)
        XCTAssertEqual(model.graph.output.map(\.name), ["logits"], file: file, line: line)
        XCTAssertEqual(model.graph.output.first.map(dims), ["batch", "\(classes.count)"], file: file, line: line)

        // The initializers are the checkpoint's tensors, by their state-dict keys and shapes
        // (num_batches_tracked left out), and constants the exporter names onnx::...
        let sd = try Checkpoint(contentsOf: weights, options: .torchvisionModel()).modelStateDict()
        let wanted = sd.keys.filter { !$0.hasSuffix("num_batches_tracked") }
        let initializers = model.graph.initializer.filter { !$0.name.hasPrefix("onnx::") }
        XCTAssertEqual(Set(initializers.map(\.name)), Set(wanted), file: file, line: line)
        XCTAssertEqual(initializers.count, wanted.count, "each tensor once", file: file, line: line)
        for t in initializers {
            XCTAssertEqual(t.dims.map(Int.init), sd[t.name]?.shape, t.name, file: file, line: line)
            XCTAssertEqual(t.rawData.count, (sd[t.name]?.count ?? 0) * 4, t.name, file: file, line: line)
        }
        // Every node reads the image, an initializer or an earlier node's output; the last makes the logits.
        var known = Set(["image"] + model.graph.initializer.map(\.name))
        for node in model.graph.node {
            for input in node.input where !input.isEmpty {
                XCTAssertTrue(known.contains(input), "\(node.opType) reads \(input) before it is made", file: file, line: line)
            }
            known.formUnion(node.output)
        }
        XCTAssertEqual(model.graph.node.last?.output, ["logits"], file: file, line: line)

        // metadata_props: the class names and the eval transform.
        let meta = Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
        XCTAssertEqual(meta["class_names"].map { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }, classes, file: file, line: line)
        struct Transform: Decodable, Equatable { let resize: Int; let crop: Int; let mean: [Double]; let std: [Double] }
        let transform = try JSONDecoder().decode(Transform.self, from: Data(XCTUnwrap(meta["eval_transform"]).utf8))
        XCTAssertEqual(transform, Transform(resize: 256, crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]),
                       file: file, line: line)
        XCTAssertNotNil(meta["architecture"], file: file, line: line)
        // Nothing else is left in the folder (no temporary file).
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(name) }, ["\(name).onnx"],
                       file: file, line: line)
        return model
    }

    func testExportOfAVGGFixture() throws {
        let model = try checkExport(weights: FixturePaths.path("vgg/predict/tiny_vgg11_bn.pth"),
                                    classIndices: FixturePaths.path("vgg/predict/class_indices.json"),
                                    classes: ["daisy", "dandelion", "roses", "sunflowers", "tulips"], name: "vgg")
        let ops = Set(model.graph.node.map(\.opType))
        XCTAssertTrue(ops.isSuperset(of: ["Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm"]), "\(ops)")
        XCTAssertFalse(ops.contains("Dropout"), "dropout is left out at inference")
    }

    func testExportOfAResNetFixture() throws {
        let names = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: FixturePaths.url("predict/class_indices.json")))
        let model = try checkExport(weights: FixturePaths.path("predict/basic.pth"), classIndices: FixturePaths.path("predict/class_indices.json"),
                                    classes: (0..<names.count).map { names["\($0)"]! }, name: "resnet")
        let ops = model.graph.node.map(\.opType)
        XCTAssertTrue(ops.contains("Add") && ops.contains("GlobalAveragePool"), "\(Set(ops))")
    }

    /// Found as predict finds them: resNet34.pth (or the one model file finetune names) and
    /// class_indices.json in the current folder, the sizes from the metrics.json beside it.
    func testExportFindsTheModelAsPredictDoes() throws {
        try FileManager.default.copyItem(at: FixturePaths.url("predict/basic.pth"), to: dir.appendingPathComponent("resNet18.pth"))
        try #"{"0": "a", "1": "b", "2": "c", "3": "d", "4": "e"}"#.write(to: dir.appendingPathComponent("class_indices.json"), atomically: true, encoding: .utf8)
        try #"{"config": {"output": "resNet18.pth", "image_size": 64, "resize": 80}}"#
            .write(to: dir.appendingPathComponent("metrics.json"), atomically: true, encoding: .utf8)
        let r = try graft(["export", "--onnx", "model.onnx"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let model = try Onnx_ModelProto(serializedBytes: Data(contentsOf: dir.appendingPathComponent("model.onnx")))
        XCTAssertEqual(model.graph.input.first?.type.tensorType.shape.dim.map(\.dimValue), [0, 3, 64, 64])
        let meta = Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
        XCTAssertEqual(meta["class_names"], #"["a","b","c","d","e"]"#)
        XCTAssertTrue(meta["eval_transform"]?.contains(#""crop":64"#) == true && meta["eval_transform"]?.contains(#""resize":80"#) == true,
                      meta["eval_transform"] ?? "")
        // --image-size wins over metrics.json, as with predict.
        let sized = try graft(["export", "--onnx", "model.onnx", "--image-size", "96"])
        XCTAssertEqual(sized.status, 0, sized.stderr)
        XCTAssertTrue(sized.stderr.hasPrefix("graft: replaced model.onnx: "), sized.stderr)
        let again = try Onnx_ModelProto(serializedBytes: Data(contentsOf: dir.appendingPathComponent("model.onnx")))
        XCTAssertEqual(again.graph.input.first?.type.tensorType.shape.dim.map(\.dimValue), [0, 3, 96, 96])
    }

    func testExportErrorsSayWhatToDoAndWriteNothing() throws {
        // No weights here.
        let none = try graft(["export", "--onnx", "model.onnx"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stderr.contains("resNet34.pth: no such file"), none.stderr)
        // A folder that does not exist: refused before the weights are read.
        let missing = try graft(["export", "--weights", FixturePaths.path("predict/basic.pth"), "--onnx", "no/such/folder/model.onnx"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("--onnx no/such/folder/model.onnx: cannot write it: its folder no/such/folder does not exist"), missing.stderr)
        // A folder as the output.
        let folder = try graft(["export", "--weights", FixturePaths.path("predict/basic.pth"), "--onnx", "."])
        XCTAssertEqual(folder.status, 1)
        XCTAssertTrue(folder.stderr.contains("it is a folder"), folder.stderr)
        // A one-character name (which swift-corelibs-foundation's deletingLastPathComponent crashes on) is a name.
        let short = try graft(["export", "--weights", FixturePaths.path("predict/basic.pth"), "--onnx", "m"])
        XCTAssertEqual(short.status, 0, short.stderr)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("m"))
        // The weights themselves as the output: refused, the weights untouched.
        let weights = dir.appendingPathComponent("w.pth")
        try FileManager.default.copyItem(at: FixturePaths.url("predict/basic.pth"), to: weights)
        let before = try Data(contentsOf: weights)
        let same = try graft(["export", "--weights", "w.pth", "--onnx", "./w.pth"])
        XCTAssertEqual(same.status, 1)
        XCTAssertTrue(same.stderr.contains("is the weights file itself"), same.stderr)
        XCTAssertEqual(try Data(contentsOf: weights), before)
        // --onnx is required.
        let usage = try graft(["export", "--weights", "w.pth"])
        XCTAssertEqual(usage.status, 64)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["w.pth"])
    }

    // MARK: layering

    /// predict, batch_predict, evaluate and inspect_weights link no training code: no symbol of
    /// the Training or TensorBoard modules is in them (Swift's mangled names start `$s8Training`,
    /// `$s11TensorBoard`), while finetune's has them (so the check can fail).
    func testInferenceExecutablesLinkNeitherTrainingNorTensorBoard() throws {
        func contains(_ name: String, _ marker: String) throws -> Bool {
            let data = try Data(contentsOf: try ProcessRun.executable(name))
            return data.range(of: Data(marker.utf8)) != nil
        }
        for name in ["predict", "batch_predict", "evaluate", "inspect_weights"] {
            XCTAssertFalse(try contains(name, "$s8Training"), "\(name) links Training")
            XCTAssertFalse(try contains(name, "$s11TensorBoard"), "\(name) links TensorBoard")
            XCTAssertFalse(try contains(name, "$s4ONNX"), "\(name) links ONNX")
        }
        XCTAssertTrue(try contains("finetune", "$s8Training"))
        XCTAssertTrue(try contains("finetune", "$s11TensorBoard"))
        XCTAssertTrue(try contains("graft", "$s4ONNX"))
    }
}
