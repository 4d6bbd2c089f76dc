import Engine
import Foundation
import TestSupport
import XCTest

/// `TrainConv2d` with `computeType = .bf16` against itself in f32, layer by layer.
///
/// A bf16 product of two bf16 numbers is exact in f32, and oneDNN accumulates in f32. So when
/// the input, the weight and the output gradient are already bf16 numbers, the bf16 forward
/// (f32 output), backward-data (f32 input gradient) and backward-weights (f32 weight gradient)
/// compute the f32 ones up to summation order: within 1e-5 relative. With arbitrary f32 inputs
/// they differ by bf16 rounding (about 2^-9 relative per operand): more than 1e-4, which shows
/// the bf16 kernels ran.
final class Bf16ConvolutionTests: XCTestCase {
    override func setUpWithError() throws { try skipUnlessBF16() }

    static func bf16(_ x: Float) -> Float {
        let b = x.bitPattern
        return Float(bitPattern: (b &+ 0x7FFF &+ ((b >> 16) & 1)) & 0xFFFF_0000)
    }

    func values(_ n: Int, seed: UInt32, round: Bool) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 1_664_525 &+ 1_013_904_223
            let v = Float(Int(s >> 8) % 20001 - 10000) / 7919
            return round ? Self.bf16(v) : v
        }
    }

    func run(_ type: DataType, shape: [Int], stride: Int, padding: Int, groups: Int = 1, input: [Int], round: Bool,
             biasAndReLU: Bool = false) throws -> (y: [Float], dx: [Float], dw: [Float], impls: [String]) {
        let w = Parameter(name: "w", shape: shape, values: values(shape.reduce(1, *), seed: 7, round: round))
        let b = biasAndReLU ? Parameter(name: "b", shape: [shape[0]], values: values(shape[0], seed: 5, round: round)) : nil
        let conv = try TrainConv2d(weight: w, bias: b, stride: stride, padding: padding, groups: groups,
                                   activation: biasAndReLU ? .relu : nil)
        conv.computeType = type
        let x = try Tensor(shape: input, values: values(input.reduce(1, *), seed: 11, round: round))
        let y = try conv.forward(x, pass: .training)
        let dy = try Tensor(shape: y.shape, values: values(y.elementCount, seed: 13, round: round))
        let dx = try XCTUnwrap(conv.backward(outputGrad: dy, needInputGrad: true))
        XCTAssertEqual(y.dataType, .f32)
        XCTAssertEqual(dx.dataType, .f32)
        // The bias gradient rides with the weight gradient.
        return (try y.floats(), try dx.floats(), Array(w.grad) + (b.map { Array($0.grad) } ?? []), conv.implementations)
    }

    func check(shape: [Int], stride: Int, padding: Int, groups: Int = 1, input: [Int], biasAndReLU: Bool = false) throws {
        let tag = "conv \(shape) s\(stride) g\(groups) on \(input)\(biasAndReLU ? " bias relu" : "")"
        let a = try run(.f32, shape: shape, stride: stride, padding: padding, groups: groups, input: input, round: true, biasAndReLU: biasAndReLU)
        let b = try run(.bf16, shape: shape, stride: stride, padding: padding, groups: groups, input: input, round: true, biasAndReLU: biasAndReLU)
        XCTAssertTrue(b.impls.allSatisfy { $0.contains("src bf16") || $0.contains("diff_dst bf16") }, "\(tag): \(b.impls)")
        XCTAssertFalse(a.impls.contains { $0.contains(" bf16") }, "\(tag): \(a.impls)")
        let errs = [relativeError(b.y, a.y), relativeError(b.dx, a.dx), relativeError(b.dw, a.dw)]
        for (e, what) in zip(errs, ["output", "input grad", "weight grad"]) {
            XCTAssertLessThanOrEqual(e, 1e-5, "\(tag) \(what), bf16-exact operands")
        }
        let c = try run(.f32, shape: shape, stride: stride, padding: padding, groups: groups, input: input, round: false, biasAndReLU: biasAndReLU)
        let d = try run(.bf16, shape: shape, stride: stride, padding: padding, groups: groups, input: input, round: false, biasAndReLU: biasAndReLU)
        let rounding = [relativeError(d.y, c.y), relativeError(d.dx, c.dx), relativeError(d.dw, c.dw)]
        for (e, what) in zip(rounding, ["output", "input grad", "weight grad"]) {
            // Behind a ReLU, an output near 0 that rounding moves across 0 passes or stops its
            // whole gradient: the gradients differ by more than rounding (about 7e-2 here).
            if biasAndReLU && what != "output" { continue }
            XCTAssertGreaterThan(e, 1e-4, "\(tag) \(what): bf16 rounding should show")
            XCTAssertLessThan(e, 2e-2, "\(tag) \(what): more than bf16 rounding")
        }
        print(String(format: "[bf16 conv] %@: exact operands rel %.1e/%.1e/%.1e (y/dx/dw), f32 operands rel %.1e/%.1e/%.1e; %@",
                     tag, errs[0], errs[1], errs[2], rounding[0], rounding[1], rounding[2], b.impls.joined(separator: "; ")))
    }

    func test3x3() throws { try check(shape: [32, 16, 3, 3], stride: 1, padding: 1, input: [2, 16, 10, 10]) }
    func test3x3Stride2() throws { try check(shape: [32, 32, 3, 3], stride: 2, padding: 1, input: [2, 32, 11, 11]) }
    func test1x1() throws { try check(shape: [64, 32, 1, 1], stride: 1, padding: 0, input: [2, 32, 8, 8]) }
    func test1x1Stride2() throws { try check(shape: [64, 32, 1, 1], stride: 2, padding: 0, input: [2, 32, 8, 8]) }
    func testStem7x7() throws { try check(shape: [16, 3, 7, 7], stride: 2, padding: 3, input: [2, 3, 20, 20]) }
    /// A VGG conv: bias (f32, its gradient f32) and a fused ReLU with bf16 compute.
    func test3x3WithBiasAndReLU() throws {
        try check(shape: [32, 16, 3, 3], stride: 1, padding: 1, input: [2, 16, 10, 10], biasAndReLU: true)
    }
    func testGrouped() throws { try check(shape: [32, 4, 3, 3], stride: 1, padding: 1, groups: 8, input: [2, 32, 8, 8]) }
}
