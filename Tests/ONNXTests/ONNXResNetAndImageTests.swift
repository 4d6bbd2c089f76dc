import Checkpoint
import Foundation
import Imaging
import Models
import ONNX
import TestSupport
import XCTest

/// More exported models against real PyTorch: the narrow torchvision ResNets of
/// Fixtures/models (strided and grouped convs, a padded max pool, residual adds with
/// downsampling, GlobalAveragePool), and the image-file path of Fixtures/vgg/predict (the
/// eval transform's tensor; a 7x7 last map through AveragePool, an 8x8 one through the
/// pooling matrix).
final class ONNXResNetAndImageTests: XCTestCase {
    struct ResNetMeta: Decodable {
        let batch: Int, height: Int, width: Int, classes: Int
        let block: String, layers: [Int], widths: [Int], groups: Int, width_per_group: Int
    }

    /// torchvision's ResNet.forward (BasicBlock or Bottleneck), keys as its state_dict names them.
    static func resnetGraph(_ m: ResNetMeta) -> Graph {
        var g = Graph()
        let root = ModulePath.root
        var x = g.add(.conv(.init(out: m.widths[0], in: 3, kernel: 7, stride: 2, padding: 3)), 0, path: root.pp("conv1"))
        x = g.add(.batchNorm(.init(channels: m.widths[0])), x, path: root.pp("bn1"))
        x = g.add(.activation(.relu), x)
        x = g.add(.maxPool(.init(kernel: 3, stride: 2, padding: 1)), x)
        let bottleneck = m.block == "Bottleneck", expansion = bottleneck ? 4 : 1
        var inplanes = m.widths[0]
        for (s, (planes, count)) in zip(m.widths, m.layers).enumerated() {
            for b in 0..<count {
                let p = root.pp("layer\(s + 1)").pp(b)
                let stride = (b == 0 && s > 0) ? 2 : 1
                let identity = x
                var y: Int
                if bottleneck {
                    let width = planes * m.width_per_group / 64 * m.groups
                    y = g.add(.conv(.init(out: width, in: inplanes, kernel: 1)), x, path: p.pp("conv1"))
                    y = g.add(.batchNorm(.init(channels: width)), y, path: p.pp("bn1"))
                    y = g.add(.activation(.relu), y)
                    y = g.add(.conv(.init(out: width, in: width, kernel: 3, stride: stride, padding: 1, groups: m.groups)), y, path: p.pp("conv2"))
                    y = g.add(.batchNorm(.init(channels: width)), y, path: p.pp("bn2"))
                    y = g.add(.activation(.relu), y)
                    y = g.add(.conv(.init(out: planes * 4, in: width, kernel: 1)), y, path: p.pp("conv3"))
                    y = g.add(.batchNorm(.init(channels: planes * 4)), y, path: p.pp("bn3"))
                } else {
                    y = g.add(.conv(.init(out: planes, in: inplanes, kernel: 3, stride: stride, padding: 1)), x, path: p.pp("conv1"))
                    y = g.add(.batchNorm(.init(channels: planes)), y, path: p.pp("bn1"))
                    y = g.add(.activation(.relu), y)
                    y = g.add(.conv(.init(out: planes, in: planes, kernel: 3, padding: 1)), y, path: p.pp("conv2"))
                    y = g.add(.batchNorm(.init(channels: planes)), y, path: p.pp("bn2"))
                }
                var shortcut = identity
                if stride != 1 || inplanes != planes * expansion {
                    shortcut = g.add(.conv(.init(out: planes * expansion, in: inplanes, kernel: 1, stride: stride)), identity, path: p.pp("downsample").pp(0))
                    shortcut = g.add(.batchNorm(.init(channels: planes * expansion)), shortcut, path: p.pp("downsample").pp(1))
                }
                y = g.add(.add, y, shortcut)
                x = g.add(.activation(.relu), y)
                inplanes = planes * expansion
            }
        }
        x = g.add(.adaptiveAvgPool(height: 1, width: 1), x)
        x = g.add(.flatten, x)
        g.add(.linear(.init(out: m.classes, in: inplanes)), x, path: root.pp("fc"))
        return g
    }

    func testResNetFixturesMatchTorch() throws {
        for name in ["basic_w8", "bottleneck_w8", "bottleneck_g2"] {
            let dir = FixturePaths.url("models/\(name)")
            let meta = try JSONDecoder().decode(ResNetMeta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
            let g = Self.resnetGraph(meta)
            let sd = try ONNXVGGFixtureTests.weights(dir)
            XCTAssertEqual(g.tensors.map(\.key), sd.keys, "\(name): the graph's keys are the state dict's, in order")
            let data = try ONNXExport.model(graph: g, stateDict: sd, imageSize: (height: meta.height, width: meta.width))
            let ops = try Onnx_ModelProto(serializedBytes: data).graph.node.map(\.opType)
            XCTAssertEqual(ops.filter { $0 == "GlobalAveragePool" }.count, 1, name)
            XCTAssertEqual(ops.filter { $0 == "Add" }.count, meta.layers.reduce(0, +), name)
            try ONNXVGGFixtureTests.check(name: "resnet_\(name)", graph: g, stateDict: sd,
                              input: try ONNXVGGFixtureTests.floats(dir.appendingPathComponent("input.bin")),
                              batch: meta.batch, height: meta.height, width: meta.width,
                              want: try ONNXVGGFixtureTests.floats(dir.appendingPathComponent("logits.bin")))
        }
    }

    /// Fixtures/vgg/predict: torch.save'd weights, images through the eval transform.
    func testImagePathMatchesTorch() throws {
        let dir = FixturePaths.url("vgg/predict")
        let json = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("expected.json"))) as? [String: Any])
        let transforms = try XCTUnwrap(json["transforms"] as? [String: [String: Int]])
        let models = try XCTUnwrap(json["models"] as? [String: [String: [String: [String: [Double]]]]])
        let manifest = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: FixturePaths.url("vgg/models/tiny_vgg11_bn/meta.json"))) as? [String: Any])
        let cfgData = try JSONSerialization.data(withJSONObject: manifest["cfg"]!)
        let cfg = try JSONDecoder().decode([ONNXVGGFixtureTests.CfgItem].self, from: cfgData)
        let names = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: dir.appendingPathComponent("class_indices.json")))
        let classNames = (0..<names.count).map { names[String($0)]! }
        for (model, byTransform) in models {
            let sd = try Checkpoint(contentsOf: dir.appendingPathComponent("\(model).pth").path).stateDict
            let g = ONNXVGGFixtureTests.vggGraph(cfg: cfg, batchNorm: true, hidden: 16, classes: classNames.count)
            for (t, images) in byTransform.sorted(by: { $0.key < $1.key }) {
                let resize = try XCTUnwrap(transforms[t]?["resize"]), crop = try XCTUnwrap(transforms[t]?["crop"])
                let metadata = ONNXExport.metadata(classNames: classNames, resize: resize, crop: crop,
                                                   mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
                let parsed = try ONNXExport.modelProto(graph: g, stateDict: sd, imageSize: (height: crop, width: crop))
                XCTAssertEqual(parsed.graph.node.contains { $0.opType == "AveragePool" }, crop == 224, "7x7: AveragePool, 8x8: the matrix")
                var input: [Float] = [], want: [Float] = []
                for image in images.keys.sorted().prefix(3) {
                    input += try EvalTransform(resize: resize, crop: crop).tensor(path: FixturePaths.path("images/src/\(image)"))
                    want += images[image]!["logits"]!.map(Float.init)
                }
                try ONNXVGGFixtureTests.check(name: "\(model)_image_\(t)", graph: g, stateDict: sd, input: input, batch: 3, height: crop, width: crop,
                                  want: want, metadata: metadata)
            }
        }
    }
}
