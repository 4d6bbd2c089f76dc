import Engine
import Foundation
import Models
import TestSupport
import XCTest
@testable import Inference

/// batch_predict's `--conv auto` prints the same bytes on every run on a machine: every batch
/// size's shapes are decided before the first batch, from the choice cache once a run has
/// measured them, and under mpirun by rank 0 for every rank.
final class ConvolutionDecisionTests: XCTestCase {
    static let images = ["jpeg_420.jpg", "jpeg_cmyk.jpg", "jpeg_exif6.jpg", "jpeg_grey.jpg", "jpeg_progressive.jpg",
                         "jpeg_wide.jpg", "png_grey16.png"].map { FixturePaths.path("images/src/\($0)") }
    var cacheFile: String!

    override func setUpWithError() throws {
        cacheFile = Scratch.root.appendingPathComponent("graft-conv-\(UUID().uuidString)/conv-choices.json").path
        ConvolutionChoiceCache.processDefault = ConvolutionChoiceCache(path: cacheFile)
    }

    override func tearDownWithError() throws {
        ConvolutionChoiceCache.processDefault = nil
        try? FileManager.default.removeItem(atPath: (cacheFile as NSString).deletingLastPathComponent)
    }

    func predictor() throws -> Predictor {
        try Predictor(weights: FixturePaths.path("predict/basic.pth"), classIndices: FixturePaths.path("predict/class_indices.json"),
                      convolution: .auto)
    }

    /// One run of batch_predict's work: every probability's bits, and the choices.
    func predictOnce() throws -> (bits: [UInt32], decisions: [String: ConvolutionTuner.Decision]) {
        let p = try predictor()
        var bits: [UInt32] = []
        try p.predict(paths: Self.images, batchSize: 3) { path, result in
            guard case .success(let prediction) = result else { return XCTFail("\(path): \(result)") }
            bits += prediction.probs.map(\.bitPattern)
        }
        return (bits, try XCTUnwrap(p.convolutionTuner).decisions)
    }

    /// Two runs: the second chooses from what the first measured (for both batch sizes, 3 and
    /// the last one's 1) and prints the same bits.
    func testTwoRunsPredictTheSameBytes() throws {
        let first = try predictOnce()
        let sizes = Set(first.decisions.keys.compactMap { $0.components(separatedBy: " on ").last?.components(separatedBy: "x").first })
        XCTAssertEqual(sizes, ["3", "1"], "every batch size's shapes decided: \(first.decisions.keys)")
        XCTAssertTrue(first.decisions.values.allSatisfy { $0.cached == false }, "\(first.decisions)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: cacheFile))

        let second = try predictOnce()
        XCTAssertTrue(second.decisions.values.allSatisfy { $0.cached == true }, "\(second.decisions)")
        XCTAssertEqual(second.decisions.mapValues(\.algorithm), first.decisions.mapValues(\.algorithm))
        XCTAssertEqual(second.bits, first.bits, "the same bytes")
    }

    /// Under mpirun every rank decides every batch size of the whole listing before its first
    /// batch, as rank 0 says: a rank that never meets the last partial batch still agrees on it,
    /// and a rank other than 0 measures nothing.
    func testRankZeroDecidesEveryShapeForAllRanks() throws {
        var channel: [[UInt8]] = []
        let root = try predictor()
        try root.decideConvolutions(images: 7, batchSize: 3, isRoot: true, broadcast: { channel.append($0); return $0 })
        XCTAssertFalse(channel.isEmpty)
        ConvolutionChoiceCache.processDefault = nil
        let other = try predictor()
        try other.decideConvolutions(images: 7, batchSize: 3, isRoot: false, broadcast: { _ in channel.removeFirst() })
        XCTAssertTrue(channel.isEmpty, "as many broadcasts on both")
        XCTAssertEqual(try XCTUnwrap(other.convolutionTuner).decisions, try XCTUnwrap(root.convolutionTuner).decisions)
        XCTAssertNil(root.convolutionTuner?.agree, "no broadcast once the shapes are decided")
    }
}
