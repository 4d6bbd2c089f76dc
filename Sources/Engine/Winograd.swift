import CDNNL
import Dispatch

/// Winograd F(4x4, 3x3) for 3x3 stride-1 f32 convolutions (padding 0 to 2) on CPUs where
/// oneDNN 2.6 has none (it has one for AVX-512 only): forward, backward-data and
/// backward-weights. The same points as oneDNN's (Lavin and Gray's 0, ±1, ±2, with the
/// filter transform's 1/4, 1/6, 1/12, 1/24). Each 6x6 input tile and each 3x3 filter are
/// transformed (in Swift, 8 channels per SIMD register), the 36 tile positions are 36 matrix
/// products `[tiles, in] x [in, out]` (oneDNN's matmul, one batched primitive), and each
/// product tile is transformed back to 4x4 outputs, with the bias, the residual add and the
/// ReLU fused into that last step. 36 multiply-adds per 16 outputs (per channel pair) where
/// direct does 144, at the cost of the transforms' memory traffic; it rounds differently from
/// direct (the transforms scale values by up to 100 before the products): about 3e-6 of an
/// output's scale in f32 (EngineTests/WinogradTests).
///
/// Activations are nChw8c (oneDNN's AVX2 blocked layout: channels in blocks of 8, the last
/// block padded with zeros), so the layers around keep theirs.
final class WinogradConvolution {
    let inChannels: Int
    let outChannels: Int
    let padding: Int
    /// Channel counts rounded up to whole blocks of 8.
    let inPadded: Int, outPadded: Int
    let engine: CPUEngine
    /// How `implementations` lists it, next to oneDNN's names.
    static let implementation = "graft_wino_4x3:avx2"
    private let products = PrimitiveCache<ProductKey, Primitive>()

    /// Whether this implementation computes a conv of this kind.
    /// (Padding up to 2: the backward-data conv of padding `p` has padding `2 - p`.)
    /// (A conv with an activation `fuses` refuses stays direct.)
    static func applies(kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int, groups: Int, computeType: DataType,
                        activation: Activation? = nil) -> Bool {
        computeType == .f32 && kernelHeight == 3 && kernelWidth == 3 && stride == 1 && (0...2).contains(padding) && groups == 1
            && fuses(activation)
    }

    /// The activations the output transform applies (`forward`'s `relu`).
    static func fuses(_ activation: Activation?) -> Bool {
        switch activation {
        case nil, .relu: return true
        }
    }

    init(inChannels: Int, outChannels: Int, padding: Int, engine: CPUEngine) {
        self.inChannels = inChannels; self.outChannels = outChannels; self.padding = padding; self.engine = engine
        inPadded = (inChannels + 7) / 8 * 8; outPadded = (outChannels + 7) / 8 * 8
    }

    /// The conv that computes this conv's input gradient from its output gradient (its filters:
    /// `transformWeights(transposed: true)`).
    func transposed() -> WinogradConvolution {
        WinogradConvolution(inChannels: outChannels, outChannels: inChannels, padding: 2 - padding, engine: engine)
    }

    /// The layout of the transformed filters `transformWeights` makes for this conv.
    var weightsDesc: MemoryDesc { get throws { try .plain([36, inPadded, outPadded]) } }

    /// The activation layout this implementation reads and writes: nChw8c f32.
    static func activationDesc(_ dims: [Int]) throws -> MemoryDesc {
        try MemoryDesc(dims: dims, type: .f32, tag: dnnl_aBcd8b)
    }

    /// The transformed filters `U[36, in, out]` of PyTorch-layout weights `[out, in, 3, 3]`.
    /// `transposed`: the filters of the backward-data conv instead (`w` is still
    /// `[out, in, 3, 3]`; the result maps `out` gradients to `in` gradients: each filter is
    /// rotated by 180 degrees and the channel roles swap).
    static func transformWeights(_ w: UnsafePointer<Float>, out: Int, in cin: Int, transposed: Bool, engine: CPUEngine) throws -> Tensor {
        // U[p][row][col]: row = the conv's input channel, both padded to blocks of 8 with zeros.
        let (rowCount, colCount) = transposed ? (out, cin) : (cin, out)
        let rows = (rowCount + 7) / 8 * 8, cols = (colCount + 7) / 8 * 8
        let u = try Tensor(desc: .plain([36, rows, cols], .f32), engine: engine)
        nonisolated(unsafe) let up = u.storage.assumingMemoryBound(to: Float.self)
        let plane = rows * cols
        // The padding rows of every plane are zero (the activations' padding lanes are zero too,
        // but 0 times whatever a reused buffer held can be NaN).
        if rows != rowCount {
            for p in 0..<36 { (up + p * plane + rowCount * cols).initialize(repeating: 0, count: (rows - rowCount) * cols) }
        }
        nonisolated(unsafe) let w = w
        // Eight filters at a time (eight output columns of U, one SIMD lane each): the writes
        // are 32 contiguous bytes in each of the 36 planes.
        ComputeThreads.forEachChunk(of: rowCount, minimumPerChunk: 8) { range in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 9 + 18 + 36) { buf in
                let g = buf.baseAddress!, t = g + 9, transformed = t + 18
                for row in range {
                    for cb in 0..<(cols / 8) {
                        for k in 0..<9 { g[k] = .zero }
                        for lane in 0..<min(8, colCount - 8 * cb) {
                            let col = 8 * cb + lane
                            // forward: the filter of output `col` over input `row`; transposed:
                            // output `row` over input `col`, rotated by 180 degrees.
                            let f = transposed ? w + (row * cin + col) * 9 : w + (col * cin + row) * 9
                            for k in 0..<9 { g[k][lane] = f[transposed ? 8 - k : k] }
                        }
                        // t = G g (6x3), by columns of g; then U = t Gᵀ (6x6), by rows of t.
                        for c in 0..<3 { Self.filterRows(g + c, 3, t + c, 3) }
                        for r in 0..<6 { Self.filterRows(t + 3 * r, 1, transformed + 6 * r, 1) }
                        let at = UnsafeMutableRawPointer(up + row * cols + cb * 8)
                        for p in 0..<36 { at.storeBytes(of: transformed[p], toByteOffset: p * plane * 4, as: SIMD8<Float>.self) }
                    }
                }
            }
        }
        return u
    }

    /// G z for one line of three (`z` and `r` with element strides): six results.
    @inline(__always)
    private static func filterRows(_ z: UnsafeMutablePointer<SIMD8<Float>>, _ zs: Int, _ r: UnsafeMutablePointer<SIMD8<Float>>, _ rs: Int) {
        let z0 = z[0], z1 = z[zs], z2 = z[2 * zs]
        r[0] = z0 / 4
        r[rs] = -(z0 + z1 + z2) / 6
        r[2 * rs] = -(z0 - z1 + z2) / 6
        r[3 * rs] = z0 / 24 + z1 / 12 + z2 / 6
        r[4 * rs] = z0 / 24 - z1 / 12 + z2 / 6
        r[5 * rs] = z2
    }

    /// `dst = relu?(conv(src) + bias + (sum ? dst : 0))`: `src` and `dst` nChw8c f32 (the output
    /// `2 * padding - 2` larger than the input each way), `weights` from `transformWeights` for
    /// this conv's channel counts.
    func forward(src: Tensor, weights: Tensor, bias: UnsafePointer<Float>?, dst: Tensor, sum: Bool, relu: Bool) throws {
        let g = try geometry(src.shape, dst.shape)
        let v = try Tensor(desc: .plain([36, g.tiles, inPadded], .f32), engine: engine)
        let m = try Tensor(desc: .plain([36, g.tiles, outPadded], .f32), engine: engine)
        transformInput(src.storage.assumingMemoryBound(to: Float.self), into: v.storage.assumingMemoryBound(to: Float.self), g)
        let product = try products.value(for: ProductKey(tiles: g.tiles, weightGradient: false)) {
            try Self.matmul(.plain([36, g.tiles, inPadded]), .plain([36, inPadded, outPadded]), .plain([36, g.tiles, outPadded]),
                            engine: engine, name: "winograd products \(inChannels)->\(outChannels) x\(g.tiles)")
        }
        try product.execute([(DNNL_ARG_SRC, v), (DNNL_ARG_WEIGHTS, weights), (DNNL_ARG_DST, m)], on: engine)
        transformOutput(m.storage.assumingMemoryBound(to: Float.self), into: dst.storage.assumingMemoryBound(to: Float.self),
                        bias: bias, sum: sum, relu: relu, g)
    }

    /// The gradient of the weights, `[out, in, 3, 3]` (PyTorch's layout, overwritten), from the
    /// forward's input `src` and the output gradient `outputGrad` (both nChw8c f32): the
    /// Winograd transforms of both, 36 products `[in, tiles] x [tiles, out]`, and `Gᵀ dU G`
    /// back to 3x3 filters.
    func weightGradient(src: Tensor, outputGrad dy: Tensor, into grad: UnsafeMutablePointer<Float>) throws {
        let g = try geometry(src.shape, dy.shape)
        let v = try Tensor(desc: .plain([36, g.tiles, inPadded], .f32), engine: engine)
        let dm = try Tensor(desc: .plain([36, g.tiles, outPadded], .f32), engine: engine)
        let du = try Tensor(desc: .plain([36, inPadded, outPadded], .f32), engine: engine)
        transformInput(src.storage.assumingMemoryBound(to: Float.self), into: v.storage.assumingMemoryBound(to: Float.self), g)
        transformOutputGradient(dy.storage.assumingMemoryBound(to: Float.self), into: dm.storage.assumingMemoryBound(to: Float.self), g)
        let product = try products.value(for: ProductKey(tiles: g.tiles, weightGradient: true)) {
            // V read transposed: [36, in, tiles] over V's [36, tiles, in] storage.
            var vt = dnnl_memory_desc_t()
            let dims: [Int64] = [36, Int64(inPadded), Int64(g.tiles)]
            let strides: [Int64] = [Int64(g.tiles * inPadded), 1, Int64(inPadded)]
            try dnnlCheck(dnnl_memory_desc_init_by_strides(&vt, 3, dims, dnnl_f32, strides), "dnnl_memory_desc_init_by_strides")
            return try Self.matmul(MemoryDesc(raw: vt), .plain([36, g.tiles, outPadded]), .plain([36, inPadded, outPadded]),
                                   engine: engine, name: "winograd weight-gradient products \(inChannels)->\(outChannels) x\(g.tiles)")
        }
        let vt = try Tensor(aliasing: v, as: product.md(dnnl_query_src_md))
        try product.execute([(DNNL_ARG_SRC, vt), (DNNL_ARG_WEIGHTS, dm), (DNNL_ARG_DST, du)], on: engine)
        inverseTransformFilters(du.storage.assumingMemoryBound(to: Float.self), into: grad)
    }

    private struct ProductKey: Hashable { let tiles: Int; let weightGradient: Bool }

    private static func matmul(_ a: MemoryDesc, _ b: MemoryDesc, _ c: MemoryDesc, engine: CPUEngine, name: String) throws -> Primitive {
        var (a, b, c) = (a.raw, b.raw, c.raw)
        var md = dnnl_matmul_desc_t()
        try dnnlCheck(dnnl_matmul_desc_init(&md, &a, &b, nil, &c), "dnnl_matmul_desc_init")
        return try Primitive.make(&md, engine: engine, name: name)
    }

    private func geometry(_ d: [Int], _ o: [Int]) throws -> Geometry {
        guard d.count == 4, o.count == 4, d[0] == o[0], d[1] == inChannels, o[1] == outChannels,
              o[2] == d[2] + 2 * padding - 2, o[3] == d[3] + 2 * padding - 2, o[2] > 0, o[3] > 0 else {
            throw EngineError.shapeMismatch(op: "WinogradConvolution(\(inChannels)->\(outChannels) pad \(padding))",
                                            expected: "input [N, \(inChannels), H, W], output [N, \(outChannels), H+\(2 * padding - 2), W+\(2 * padding - 2)]",
                                            actual: "\(d) -> \(o)")
        }
        return Geometry(batch: d[0], inHeight: d[2], inWidth: d[3], outHeight: o[2], outWidth: o[3],
                        padding: padding, tilesY: (o[2] + 3) / 4, tilesX: (o[3] + 3) / 4)
    }

    struct Geometry {
        let batch: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int, padding: Int, tilesY: Int, tilesX: Int
        var tiles: Int { batch * tilesY * tilesX }
    }

    /// `V[p, tile, c] = (Bᵀ d B)[p]` for every 6x6 input tile `d` (zero outside the image).
    private func transformInput(_ x: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>, _ g: Geometry) {
        let blocks = inPadded / 8, channels = inPadded, tiles = g.tiles, plane = g.inHeight * g.inWidth
        let (h, w) = (g.inHeight, g.inWidth)
        nonisolated(unsafe) let x = x, v = v
        Self.forEachTile(g, scratch: 72) { tile, img, outY, outX, d in
            let t = d + 36
            let y0 = outY - g.padding, x0 = outX - g.padding
            let inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= h && x0 + 6 <= w
            for cb in 0..<blocks {
                let base = UnsafeRawPointer(x + ((img * blocks + cb) * plane) * 8)
                if inside {
                    for i in 0..<6 {
                        let row = base + ((y0 + i) * w + x0) * 32
                        for j in 0..<6 { d[6 * i + j] = row.loadUnaligned(fromByteOffset: j * 32, as: SIMD8<Float>.self) }
                    }
                } else {
                    for i in 0..<6 {
                        let y = y0 + i
                        for j in 0..<6 {
                            let xx = x0 + j
                            d[6 * i + j] = y >= 0 && y < h && xx >= 0 && xx < w
                                ? base.loadUnaligned(fromByteOffset: (y * w + xx) * 32, as: SIMD8<Float>.self) : .zero
                        }
                    }
                }
                // Rows: t[i][*] = Bᵀ applied to d[i][*]; then columns into V.
                for i in 0..<6 { Self.inputRows(d + 6 * i, 1, t + 6 * i, 1) }
                let out = UnsafeMutableRawPointer(v + tile * channels + cb * 8)
                let stride = tiles * channels * 4
                for j in 0..<6 { Self.inputRows(t + j, 6, d + j, 6) }   // reuse d for the result
                for p in 0..<36 { out.storeBytes(of: d[p], toByteOffset: p * stride, as: SIMD8<Float>.self) }
            }
        }
    }

    /// Runs `body` for every tile, the tiles split across the compute threads, each thread with
    /// `scratch` vectors of its own: the tile's index, its image, and its top-left output row
    /// and column.
    private static func forEachTile(_ g: Geometry, scratch: Int,
                                    _ body: (_ tile: Int, _ image: Int, _ y: Int, _ x: Int, _ scratch: UnsafeMutablePointer<SIMD8<Float>>) -> Void) {
        let perImage = g.tilesY * g.tilesX
        ComputeThreads.forEachChunk(of: g.tiles, minimumPerChunk: 16) { range in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: scratch) { buf in
                for tile in range {
                    let r = tile % perImage
                    body(tile, tile / perImage, (r / g.tilesX) * 4, (r % g.tilesX) * 4, buf.baseAddress!)
                }
            }
        }
    }

    /// Bᵀ z for one line of six (`z` and `r` with element strides).
    @inline(__always)
    private static func inputRows(_ z: UnsafeMutablePointer<SIMD8<Float>>, _ zs: Int, _ r: UnsafeMutablePointer<SIMD8<Float>>, _ rs: Int) {
        let z0 = z[0], z1 = z[zs], z2 = z[2 * zs], z3 = z[3 * zs], z4 = z[4 * zs], z5 = z[5 * zs]
        let four: Float = 4, five: Float = 5, two: Float = 2
        r[0] = four * z0 - five * z2 + z4
        r[rs] = z3 + z4 - four * (z1 + z2)
        r[2 * rs] = four * (z1 - z2) + z4 - z3
        r[3 * rs] = two * (z3 - z1) + z4 - z2
        r[4 * rs] = two * (z1 - z3) + z4 - z2
        r[5 * rs] = four * z1 - five * z3 + z5
    }

    /// Aᵀ m for one line of six, four results.
    @inline(__always)
    private static func outputRows(_ m: UnsafeMutablePointer<SIMD8<Float>>, _ ms: Int, _ r: UnsafeMutablePointer<SIMD8<Float>>, _ rs: Int) {
        let m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms], m4 = m[4 * ms], m5 = m[5 * ms]
        let a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4
        r[0] = m0 + a + c
        r[rs] = b + 2 * e
        r[2 * rs] = a + 4 * c
        r[3 * rs] = b + 8 * e + m5
    }

    /// Each product tile back to 4x4 outputs: `Aᵀ M A`, plus bias, residual and ReLU.
    private func transformOutput(_ m: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
                                 sum: Bool, relu: Bool, _ g: Geometry) {
        let blocks = outPadded / 8, channels = outPadded, tiles = g.tiles, plane = g.outHeight * g.outWidth
        let (h, w) = (g.outHeight, g.outWidth)
        // The bias padded to whole blocks (zeros in the padding lanes, which stay zero).
        let biasBlocks = (0..<blocks).map { cb in
            SIMD8<Float>((0..<8).map { lane in bias.flatMap { 8 * cb + lane < outChannels ? $0[8 * cb + lane] : nil } ?? 0 })
        }
        nonisolated(unsafe) let m = m, y = y
        Self.forEachTile(g, scratch: 36 + 24 + 16) { tile, img, y0, x0, s in
            let t = s + 36, o = t + 24
            let rowsHere = min(4, h - y0), colsHere = min(4, w - x0)
            let src = UnsafeRawPointer(m + tile * channels)
            let stride = tiles * channels * 4
            for cb in 0..<blocks {
                for p in 0..<36 { s[p] = src.loadUnaligned(fromByteOffset: p * stride + cb * 32, as: SIMD8<Float>.self) }
                for i in 0..<6 { Self.outputRows(s + 6 * i, 1, t + 4 * i, 1) }     // t: 6 rows of 4
                for j in 0..<4 { Self.outputRows(t + j, 4, o + j, 4) }             // o: 4 rows of 4
                let b = biasBlocks[cb]
                let base = UnsafeMutableRawPointer(y + ((img * blocks + cb) * plane) * 8)
                for i in 0..<rowsHere {
                    for j in 0..<colsHere {
                        let at = ((y0 + i) * w + x0 + j) * 32
                        var value = o[4 * i + j] + b
                        if sum { value += base.loadUnaligned(fromByteOffset: at, as: SIMD8<Float>.self) }
                        if relu { value = value.replacing(with: 0, where: value .< 0) }
                        base.storeBytes(of: value, toByteOffset: at, as: SIMD8<Float>.self)
                    }
                }
            }
        }
    }

    /// A y for one line of four: six results (the transpose of the output transform).
    @inline(__always)
    private static func gradientRows(_ y: UnsafeMutablePointer<SIMD8<Float>>, _ ys: Int, _ r: UnsafeMutablePointer<SIMD8<Float>>, _ rs: Int) {
        let y0 = y[0], y1 = y[ys], y2 = y[2 * ys], y3 = y[3 * ys]
        let even = y0 + 4 * y2, odd = 2 * y1 + 8 * y3
        r[0] = y0
        r[rs] = y0 + y1 + y2 + y3
        r[2 * rs] = y0 - y1 + y2 - y3
        r[3 * rs] = even + odd
        r[4 * rs] = even - odd
        r[5 * rs] = y3
    }

    /// `dM[p, tile, k] = (A dY Aᵀ)[p]` for every 4x4 tile of the output gradient (zero outside).
    private func transformOutputGradient(_ dy: UnsafeMutablePointer<Float>, into dm: UnsafeMutablePointer<Float>, _ g: Geometry) {
        let blocks = outPadded / 8, channels = outPadded, tiles = g.tiles, plane = g.outHeight * g.outWidth
        let (h, w) = (g.outHeight, g.outWidth)
        nonisolated(unsafe) let dy = dy, dm = dm
        Self.forEachTile(g, scratch: 16 + 24 + 36) { tile, img, y0, x0, y in
            let t = y + 16, r = t + 24
            let rowsHere = min(4, h - y0), colsHere = min(4, w - x0)
            let out = UnsafeMutableRawPointer(dm + tile * channels)
            let stride = tiles * channels * 4
            for cb in 0..<blocks {
                let base = UnsafeRawPointer(dy + ((img * blocks + cb) * plane) * 8)
                for i in 0..<4 {
                    for j in 0..<4 {
                        y[4 * i + j] = i < rowsHere && j < colsHere
                            ? base.loadUnaligned(fromByteOffset: ((y0 + i) * w + x0 + j) * 32, as: SIMD8<Float>.self) : .zero
                    }
                }
                for i in 0..<4 { Self.gradientRows(y + 4 * i, 1, t + 6 * i, 1) }   // t: 4 rows of 6
                for j in 0..<6 { Self.gradientRows(t + j, 6, r + j, 6) }           // r: 6 rows of 6
                for p in 0..<36 { out.storeBytes(of: r[p], toByteOffset: p * stride + cb * 32, as: SIMD8<Float>.self) }
            }
        }
    }

    /// Gᵀ u for one line of six: three results.
    @inline(__always)
    private static func filterGradientRows(_ u: UnsafeMutablePointer<SIMD8<Float>>, _ us: Int, _ r: UnsafeMutablePointer<SIMD8<Float>>, _ rs: Int) {
        let u0 = u[0], u1 = u[us], u2 = u[2 * us], u3 = u[3 * us], u4 = u[4 * us], u5 = u[5 * us]
        r[0] = u0 / 4 - (u1 + u2) / 6 + (u3 + u4) / 24
        r[rs] = (u2 - u1) / 6 + (u3 - u4) / 12
        r[2 * rs] = (u3 + u4 - u1 - u2) / 6 + u5
    }

    /// `grad[k, c] = Gᵀ dU[·, c, k] G` (3x3), eight output channels at a time.
    private func inverseTransformFilters(_ du: UnsafeMutablePointer<Float>, into grad: UnsafeMutablePointer<Float>) {
        let plane = inPadded * outPadded, cin = inChannels, cout = outChannels
        nonisolated(unsafe) let du = du, grad = grad
        ComputeThreads.forEachChunk(of: cin, minimumPerChunk: 8) { range in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 36 + 18 + 9) { buf in
                let u = buf.baseAddress!, t = u + 36, f = t + 18
                for c in range {
                    for kb in 0..<(outPadded / 8) {
                        let at = UnsafeRawPointer(du + c * outPadded + kb * 8)
                        for p in 0..<36 { u[p] = at.loadUnaligned(fromByteOffset: p * plane * 4, as: SIMD8<Float>.self) }
                        for i in 0..<6 { Self.filterGradientRows(u + 6 * i, 1, t + 3 * i, 1) }   // t: 6 rows of 3
                        for j in 0..<3 { Self.filterGradientRows(t + j, 3, f + j, 3) }           // f: 3 rows of 3
                        for lane in 0..<min(8, cout - 8 * kb) {
                            let out = grad + ((8 * kb + lane) * cin + c) * 9
                            for k in 0..<9 { out[k] = f[k][lane] }
                        }
                    }
                }
            }
        }
    }
}
