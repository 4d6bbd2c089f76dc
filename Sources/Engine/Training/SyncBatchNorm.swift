/// `torch.nn.SyncBatchNorm`'s arithmetic for `TrainBatchNorm` with a `crossProcessSum`: the
/// statistics of all processes' batches together. Computed on plain NCHW float32 copies (the
/// layers' own layouts at the edges), sums in float64; opt-in (`finetune --sync-bn`), so
/// clarity before speed.
struct SyncSaved {
    /// The input as plain float32 NCHW, and the output (after the fused activation) when there is one.
    let x: Tensor
    let y: Tensor?
    let mean: [Float]
    let invstd: [Float]
    /// Values per channel over all processes.
    let count: Double
    let desc: MemoryDesc
}

extension TrainBatchNorm {
    // x, y: [N, C, H, W]; per channel: mean, var over N*H*W values of every process.
    func synchronizedForward(_ x: Tensor, pass: PassKind, sum: (inout [Double]) -> Void) throws -> Tensor {
        let c = channels, n = x.shape[0], hw = x.shape[2] * x.shape[3]
        let px = try engine.reorder(x, to: .plain(x.shape, .f32))
        let xs = px.plainFloats
        // This process's sums and sums of squares per channel and its count, then everyone's.
        var figures = [Double](repeating: 0, count: 2 * c + 1)
        for b in 0..<n {
            for ch in 0..<c {
                let base = (b * c + ch) * hw
                var s = 0.0, q = 0.0
                for i in 0..<hw { let v = Double(xs[base + i]); s += v; q += v * v }
                figures[ch] += s; figures[c + ch] += q
            }
        }
        figures[2 * c] = Double(n * hw)
        sum(&figures)
        let count = figures[2 * c]
        var mean = [Float](repeating: 0, count: c), invstd = [Float](repeating: 0, count: c)
        let unbias = count > 1 ? count / (count - 1) : 1
        for ch in 0..<c {
            let m = figures[ch] / count
            let v = max(0, figures[c + ch] / count - m * m)
            mean[ch] = Float(m)
            invstd[ch] = Float(1 / (v + Double(eps)).squareRoot())
            runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * Float(m)
            runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * Float(v * unbias)
        }
        numBatchesTracked += 1
        let py = try Tensor(desc: .plain(x.shape, .f32), engine: engine)
        let ys = py.plainFloats
        for b in 0..<n {
            for ch in 0..<c {
                let base = (b * c + ch) * hw
                let scale = weight.value[ch] * invstd[ch], shift = bias.value[ch], m = mean[ch]
                for i in base..<(base + hw) {
                    let v = (xs[i] - m) * scale + shift
                    ys[i] = activation.map { $0.apply(v) } ?? v
                }
            }
        }
        if pass == .training {
            syncSaved = SyncSaved(x: px, y: activation != nil ? py : nil, mean: mean, invstd: invstd, count: count, desc: x.desc)
        } else {
            syncSaved = nil
        }
        return try engine.reorder(py, to: x.desc)
    }

    // dy, dx: [N, C, H, W].
    func synchronizedBackward(_ dy: Tensor, _ s: SyncSaved, sum: (inout [Double]) -> Void) throws -> Tensor {
        let c = channels, n = s.x.shape[0], hw = s.x.shape[2] * s.x.shape[3]
        let pg = try engine.reorder(dy, to: .plain(s.x.shape, .f32))
        let g = pg.plainFloats, xs = s.x.plainFloats, ys = s.y?.plainFloats
        let activation = self.activation
        @inline(__always) func grad(_ i: Int) -> Float {
            guard let ys, let a = activation else { return g[i] }
            return a.gradient(output: ys[i], outputGrad: g[i])
        }
        // sum_dy and sum_dy_xmu per channel: this process's, then everyone's.
        var sums = [Double](repeating: 0, count: 2 * c)
        for b in 0..<n {
            for ch in 0..<c {
                let base = (b * c + ch) * hw, m = s.mean[ch]
                var sdy = 0.0, sdx = 0.0
                for i in base..<(base + hw) { let d = Double(grad(i)); sdy += d; sdx += d * Double(xs[i] - m) }
                sums[ch] += sdy; sums[c + ch] += sdx
            }
        }
        // The weight's and bias's gradients come from this process's batch (DDP averages them).
        if weight.trainable { for ch in 0..<c { weight.grad[ch] = Float(sums[c + ch]) * s.invstd[ch] } }
        if bias.trainable { for ch in 0..<c { bias.grad[ch] = Float(sums[ch]) } }
        sum(&sums)
        let pdx = try Tensor(desc: .plain(s.x.shape, .f32), engine: engine)
        let dx = pdx.plainFloats
        for b in 0..<n {
            for ch in 0..<c {
                let base = (b * c + ch) * hw, m = s.mean[ch], istd = s.invstd[ch]
                let meanDy = Float(sums[ch] / s.count), meanDyXmu = Float(sums[c + ch] / s.count)
                let scale = weight.value[ch] * istd
                for i in base..<(base + hw) {
                    dx[i] = (grad(i) - meanDy - (xs[i] - m) * istd * istd * meanDyXmu) * scale
                }
            }
        }
        return try engine.reorder(pdx, to: s.desc)
    }
}
