@testable import Engine
import Foundation
import Random
import XCTest

/// The exact bits of Graft's own Winograd (filter transforms, forward with bias, residual and
/// ReLU, backward-data through the transposed filters, backward-weights) on seeded inputs,
/// written to a file or compared with one: the proof that a rewrite of the transforms (into C,
/// say) computes the same floats. `GRAFT_WINOGRAD_BITS=dump:<path>` writes them;
/// `GRAFT_WINOGRAD_BITS=compare:<path>` fails on the first value that differs. Without the
/// variable the test only checks that two runs in this process give the same bits. The file
/// holds results of oneDNN's matmul too, so compare on the machine and ISA
/// (`ONEDNN_MAX_CPU_ISA`) that dumped. `GRAFT_WINOGRAD_BASELINE=1` runs the transforms'
/// baseline x86-64 code instead of the AVX2 code (both must give the dump's bits).
final class WinogradBitsTests: XCTestCase {
    func values(_ n: Int, seed: UInt64) -> [Float] {
        var r = SeededRandom(seed: seed)
        return (0..<n).map { _ in 2 * r.rand() - 1 }
    }

    /// Named arrays of bit patterns, in a fixed order.
    func computeBits() throws -> [(String, [UInt32])] {
        var out: [(String, [UInt32])] = []
        let engine = CPUEngine.shared
        for (i, (batch, cin, cout, h, w, padding)) in [(2, 12, 20, 9, 7, 1), (1, 16, 8, 13, 10, 0), (3, 8, 16, 5, 6, 2),
                                                      (2, 64, 64, 14, 14, 1), (1, 3, 5, 4, 11, 1)].enumerated() {
            let tag = "\(batch)x\(cin)x\(h)x\(w)->\(cout) pad \(padding)"
            let seed = UInt64(10 * i)
            let shape = [cout, cin, 3, 3]
            let wt = values(shape.reduce(1, *), seed: seed + 1)
            let bias = values(cout, seed: seed + 2)
            let x = try Tensor(shape: [batch, cin, h, w], values: values(batch * cin * h * w, seed: seed + 3))
            let wino = WinogradConvolution(inChannels: cin, outChannels: cout, padding: padding, engine: engine)
            let outDims = [batch, cout, h + 2 * padding - 2, w + 2 * padding - 2]
            let u = try wt.withUnsafeBufferPointer {
                try WinogradConvolution.transformWeights($0.baseAddress!, out: cout, in: cin, transposed: false, engine: engine)
            }
            let ut = try wt.withUnsafeBufferPointer {
                try WinogradConvolution.transformWeights($0.baseAddress!, out: cout, in: cin, transposed: true, engine: engine)
            }
            out.append(("U \(tag)", Self.raw(u)))
            out.append(("U transposed \(tag)", Self.raw(ut)))
            let src = try engine.reorder(x, to: WinogradConvolution.activationDesc(x.shape))
            for (sum, relu, withBias) in [(false, false, false), (false, false, true), (true, true, true), (false, true, false)] {
                let dst: Tensor
                if sum {
                    let r = try Tensor(shape: outDims, values: values(outDims.reduce(1, *), seed: seed + 4))
                    dst = try engine.reorder(r, to: WinogradConvolution.activationDesc(outDims))
                } else {
                    dst = try Tensor(desc: WinogradConvolution.activationDesc(outDims))
                }
                try bias.withUnsafeBufferPointer { b in
                    try wino.forward(src: src, weights: u, bias: withBias ? b.baseAddress : nil, dst: dst, sum: sum, relu: relu)
                }
                out.append(("forward sum \(sum) relu \(relu) bias \(withBias) \(tag)", try Self.plainBits(dst)))
            }
            let dy = try engine.reorder(Tensor(shape: outDims, values: values(outDims.reduce(1, *), seed: seed + 5)),
                                        to: WinogradConvolution.activationDesc(outDims))
            let dx = try Tensor(desc: WinogradConvolution.activationDesc(x.shape))
            try wino.transposed().forward(src: dy, weights: ut, bias: nil, dst: dx, sum: false, relu: false)
            out.append(("backward data \(tag)", try Self.plainBits(dx)))
            var grad = [Float](repeating: .nan, count: wt.count)
            try grad.withUnsafeMutableBufferPointer { try wino.weightGradient(src: src, outputGrad: dy, into: $0.baseAddress!) }
            out.append(("backward weights \(tag)", grad.map(\.bitPattern)))
        }
        return out
    }

    static func raw(_ t: Tensor) -> [UInt32] {
        t.withUnsafeMutableRawPointer { p in
            Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: UInt32.self), count: t.desc.byteCount / 4))
        }
    }

    /// Only the logical values (a blocked layout's padding lanes are not the op's output).
    static func plainBits(_ t: Tensor) throws -> [UInt32] { try t.floats().map(\.bitPattern) }

    static func encode(_ arrays: [(String, [UInt32])]) -> Data {
        var d = Data()
        for (name, bits) in arrays {
            d.append(contentsOf: Array("\(name)\n".utf8))
            d.append(contentsOf: Array("\(bits.count)\n".utf8))
            bits.withUnsafeBytes { d.append(contentsOf: $0) }
        }
        return d
    }

    func testBitsAreReproducibleAndMatchADumpWhenAsked() throws {
        let bits = try computeBits()
        let again = try computeBits()
        XCTAssertEqual(bits.map(\.0), again.map(\.0))
        print("[winograd bits] transforms: \(WinogradConvolution.transformsUseAVX2 ? "AVX2" : "baseline x86-64")")
        for (a, b) in zip(bits, again) { XCTAssertEqual(a.1, b.1, "\(a.0): two runs differ") }
        guard let spec = ProcessInfo.processInfo.environment["GRAFT_WINOGRAD_BITS"] else { return }
        let data = Self.encode(bits)
        if spec.hasPrefix("dump:") {
            try data.write(to: URL(fileURLWithPath: String(spec.dropFirst(5))))
            print("[winograd bits] wrote \(bits.count) arrays, \(bits.reduce(0) { $0 + $1.1.count }) values")
        } else if spec.hasPrefix("compare:") {
            let want = try Data(contentsOf: URL(fileURLWithPath: String(spec.dropFirst(8))))
            XCTAssertEqual(want.count, data.count, "a different number of values")
            // Point at the first array that differs.
            var at = 0
            for (name, b) in bits {
                let piece = Self.encode([(name, b)])
                let theirs = want.count >= at + piece.count ? want.subdata(in: at..<(at + piece.count)) : Data()
                XCTAssertEqual(theirs, piece, "\(name): bits differ from the dump")
                at += piece.count
            }
            print("[winograd bits] compared \(bits.count) arrays, \(bits.reduce(0) { $0 + $1.1.count }) values")
        } else {
            XCTFail("GRAFT_WINOGRAD_BITS must be dump:<path> or compare:<path>, got \(spec)")
        }
    }
}
