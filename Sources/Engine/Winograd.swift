import CDNNL
import CWinograd

/// Winograd F(4x4, 3x3) for 3x3 stride-1 f32 convolutions (padding 0 to 2) on CPUs where
/// oneDNN 2.6 has none (it has one for AVX-512 only): forward, backward-data and
/// backward-weights. The same points as oneDNN's (Lavin and Gray's 0, ±1, ±2, with the
/// filter transform's 1/4, 1/6, 1/12, 1/24). Each 6x6 input tile and each 3x3 filter are
/// transformed (in C, Sources/CWinograd: 8 channels per AVX2 register, no FMA contraction), the
/// 36 tile positions are 36 matrix
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
    /// Whether the transforms run their AVX2 code (every CPU Graft supports has AVX2; the
    /// baseline x86-64 code computes the same bits, slower).
    static var transformsUseAVX2: Bool { graft_winograd_uses_avx2() == 1 }
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
        default: return false
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
        // Eight filters at a time (eight output columns of U, one vector each): the writes are
        // 32 contiguous bytes in each of the 36 planes.
        ComputeThreads.forEachChunk(of: rowCount, minimumPerChunk: 8) { range in
            graft_winograd_transform_weights(w, up, out, cin, transposed ? 1 : 0, range.lowerBound, range.upperBound)
        }
        return u
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
        var c: graft_winograd_geometry {
            graft_winograd_geometry(batch: batch, in_height: inHeight, in_width: inWidth, out_height: outHeight,
                                    out_width: outWidth, padding: padding, tiles_y: tilesY, tiles_x: tilesX)
        }
    }

    /// Runs `body` over the tiles in chunks across the compute threads, with the C geometry.
    private static func forEachTileRange(_ g: Geometry,
                                         _ body: (UnsafePointer<graft_winograd_geometry>, _ begin: Int, _ end: Int) -> Void) {
        let geometry = g.c
        ComputeThreads.forEachChunk(of: g.tiles, minimumPerChunk: 16) { range in
            withUnsafePointer(to: geometry) { body($0, range.lowerBound, range.upperBound) }
        }
    }

    /// `V[p, tile, c] = (Bᵀ d B)[p]` for every 6x6 input tile `d` (zero outside the image).
    private func transformInput(_ x: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>, _ g: Geometry) {
        nonisolated(unsafe) let x = x, v = v
        let channels = inPadded
        Self.forEachTileRange(g) { geometry, begin, end in
            graft_winograd_transform_input(x, v, channels, geometry, begin, end)
        }
    }

    /// Each product tile back to 4x4 outputs: `Aᵀ M A`, plus bias, residual and ReLU.
    private func transformOutput(_ m: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
                                 sum: Bool, relu: Bool, _ g: Geometry) {
        nonisolated(unsafe) let m = m, y = y, bias = bias
        let (channels, outChannels) = (outPadded, self.outChannels)
        Self.forEachTileRange(g) { geometry, begin, end in
            graft_winograd_transform_output(m, y, bias, outChannels, channels, sum ? 1 : 0, relu ? 1 : 0, geometry, begin, end)
        }
    }

    /// `dM[p, tile, k] = (A dY Aᵀ)[p]` for every 4x4 tile of the output gradient (zero outside).
    private func transformOutputGradient(_ dy: UnsafeMutablePointer<Float>, into dm: UnsafeMutablePointer<Float>, _ g: Geometry) {
        nonisolated(unsafe) let dy = dy, dm = dm
        let channels = outPadded
        Self.forEachTileRange(g) { geometry, begin, end in
            graft_winograd_transform_output_gradient(dy, dm, channels, geometry, begin, end)
        }
    }

    /// `grad[k, c] = Gᵀ dU[·, c, k] G` (3x3), eight output channels at a time.
    private func inverseTransformFilters(_ du: UnsafeMutablePointer<Float>, into grad: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let du = du, grad = grad
        let (cin, cout, inPadded, outPadded) = (inChannels, outChannels, self.inPadded, self.outPadded)
        ComputeThreads.forEachChunk(of: cin, minimumPerChunk: 8) { range in
            graft_winograd_inverse_transform_filters(du, grad, cin, cout, inPadded, outPadded, range.lowerBound, range.upperBound)
        }
    }
}
