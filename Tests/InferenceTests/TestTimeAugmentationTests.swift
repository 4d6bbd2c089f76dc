import Foundation
import Models
import TestSupport
import XCTest
@testable import Inference

/// `--tta flip` against torch (Fixtures/gen_tta.py): each image's probabilities are the mean of
/// the softmax of its eval tensor and of `torch.flip(x, dims=[3])`, through the batched
/// pipeline (both halves in one doubled batch).
final class TestTimeAugmentationTests: XCTestCase {
    struct Expected {
        let images: [String]
        let probs: [String: [Double]]
        let plain: [String: [Double]]
    }

    func expected() throws -> Expected {
        let data = try Data(contentsOf: FixturePaths.root.appendingPathComponent("tta/expected.json"))
        let json = try XCTUnwrap(ExactJSON.object(with: data) as? [String: Any])
        let images = try XCTUnwrap(json["images"] as? [String: [String: Any]])
        return Expected(images: images.keys.sorted(),
                        probs: try images.mapValues { try XCTUnwrap($0["probs"] as? [Double]) },
                        plain: try images.mapValues { try XCTUnwrap($0["plain"] as? [Double]) })
    }

    func predictor(_ convolution: ConvolutionChoice = .direct) throws -> Predictor {
        let p = try Predictor(weights: FixturePaths.path("predict/basic.pth"), classIndices: FixturePaths.path("predict/class_indices.json"),
                              convolution: convolution)
        p.tta = .flip
        return p
    }

    /// Torch's TTA probabilities within 1e-5, for batches of every size (a last partial one
    /// included) and with unreadable images among them, each result at its image's place.
    func testFlipMatchesTorch() throws {
        let e = try expected()
        XCTAssertGreaterThanOrEqual(e.images.count, 5)
        let p = try predictor()
        let unreadable = ["bad_webp.webp", "missing.jpg"]
        let names = [e.images[0], unreadable[0]] + e.images.dropFirst() + [unreadable[1]]
        let paths = names.map { FixturePaths.path("images/src/\($0)") }
        for size in [1, 3, 4, 16] {
            var seen: [String] = []
            try p.predict(paths: paths, batchSize: size) { path, result in
                seen.append(path)
                let name = (path as NSString).lastPathComponent
                guard let want = e.probs[name] else {
                    if case .success = result { XCTFail("\(name) should not decode") }
                    return
                }
                guard case .success(let got) = result else { return XCTFail("\(name): \(result)") }
                XCTAssertEqual(got.probs.count, want.count)
                for (a, b) in zip(got.probs, want) { XCTAssertEqual(Double(a), b, accuracy: 1e-5, "batch \(size) \(name)") }
            }
            XCTAssertEqual(seen, paths, "batch \(size): input order")
        }
    }

    /// The fixture tells flip from no flip: each image's TTA probabilities are at least 1e-3
    /// from its plain ones, and `.none` still gives the plain ones.
    func testNoneIsThePlainSoftmaxAndDiffersFromFlip() throws {
        let e = try expected()
        let p = try predictor()
        p.tta = .none
        let paths = e.images.map { FixturePaths.path("images/src/\($0)") }
        try p.predict(paths: paths, batchSize: 4) { path, result in
            let name = (path as NSString).lastPathComponent
            guard case .success(let got) = result, let plain = e.plain[name], let flip = e.probs[name] else { return XCTFail("\(name)") }
            for (a, b) in zip(got.probs, plain) { XCTAssertEqual(Double(a), b, accuracy: 1e-5, name) }
            XCTAssertGreaterThan(zip(plain, flip).map { abs($0 - $1) }.max() ?? 0, 1e-3, name)
        }
    }

    /// `--conv auto` with TTA decides the doubled batches' shapes before the first batch, and
    /// stays within `--conv auto`'s 1e-4 of torch.
    func testAutoDecidesTheDoubledBatches() throws {
        let e = try expected()
        let p = try predictor(.auto)
        let paths = e.images.map { FixturePaths.path("images/src/\($0)") }
        try p.predict(paths: paths, batchSize: 4) { path, result in
            let name = (path as NSString).lastPathComponent
            guard case .success(let got) = result, let want = e.probs[name] else { return XCTFail("\(name)") }
            for (a, b) in zip(got.probs, want) { XCTAssertEqual(Double(a), b, accuracy: 1e-4, name) }
        }
        let prepared = try XCTUnwrap(p.convolutionTuner).preparedInputs
        XCTAssertEqual(prepared, Set([[8, 3, 224, 224], [2 * (e.images.count % 4), 3, 224, 224]]))
    }

    func testMirrorsAndMeans() {
        var x: [Float] = [1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0]   // one image: 2 channels of 1 x 3
        x.withUnsafeMutableBufferPointer { TestTimeAugmentation.appendMirrors($0, count: 1, channels: 2, height: 1, width: 3) }
        XCTAssertEqual(x, [1, 2, 3, 4, 5, 6, 3, 2, 1, 6, 5, 4])
        XCTAssertEqual(TestTimeAugmentation.flip.combine([0.2, 0.8, 0.4, 0.6, 0.6, 0.4, 1, 0], count: 2, classes: 2), [0.4, 0.6, 0.7, 0.3])
        XCTAssertEqual(TestTimeAugmentation.none.combine([0.2, 0.8], count: 1, classes: 2), [0.2, 0.8])
    }
}
