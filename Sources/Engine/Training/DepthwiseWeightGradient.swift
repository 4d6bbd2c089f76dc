/// The weight gradient of a depthwise conv (one filter per channel) where oneDNN 2.6 has no jit
/// backward-weights kernel (5x5 filters: its gemm fallback took 9 s for efficientnet_b0's
/// `features.3.0` depthwise conv at batch 32, half of a training step; this takes milliseconds):
/// `dw[c, i, j] = sum over n, y, x of dy[n, c, y, x] * src[n, c, y * s - p + i, x * s - p + j]`,
/// each row's products summed in float (eight lanes), the rows in float64. Plain NCHW in, `[C, 1, k, k]` out.
enum DepthwiseWeightGradient {
    struct Shape {
        let batch: Int, channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
        let kernel: Int, stride: Int, padding: Int
    }

    static func compute(src: UnsafePointer<Float>, outputGrad: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>, _ s: Shape) {
        let (ih, iw, oh, ow, k) = (s.inHeight, s.inWidth, s.outHeight, s.outWidth, s.kernel)
        // The output columns x whose input column x * stride - padding + j is inside the image.
        func columns(_ j: Int) -> Range<Int> {
            var lo = 0
            while lo < ow && lo * s.stride - s.padding + j < 0 { lo += 1 }
            var hi = ow
            while hi > lo && (hi - 1) * s.stride - s.padding + j >= iw { hi -= 1 }
            return lo..<hi
        }
        let cols = (0..<k).map(columns)
        ComputeThreads.forEachChunk(of: s.channels, minimumPerChunk: 1) { channels in
            // Each (n, y) row of dy meets the k input rows it reaches while they are in L1; the
            // k * k sums of one channel stay in float64.
            var totals = [Double](repeating: 0, count: k * k)
            for c in channels {
                for t in 0..<totals.count { totals[t] = 0 }
                for b in 0..<s.batch {
                    let plane = b * s.channels + c
                    let x = src + plane * ih * iw, g = outputGrad + plane * oh * ow
                    for y in 0..<oh {
                        let gRow = g + y * ow
                        for i in 0..<k {
                            let yy = y * s.stride - s.padding + i
                            guard yy >= 0 && yy < ih else { continue }
                            for j in 0..<k {
                                let xs = cols[j], xRow = x + yy * iw - s.padding + j
                                let row = s.stride == 1 ? dot(gRow + xs.lowerBound, xRow + xs.lowerBound, xs.count)
                                    : xs.reduce(Float(0)) { $0 + gRow[$1] * xRow[$1 * s.stride] }
                                totals[i * k + j] += Double(row)
                            }
                        }
                    }
                }
                for t in 0..<k * k { dw[c * k * k + t] = Float(totals[t]) }
            }
        }
    }

    /// `sum of a[q] * b[q]` for q below n, in eight float lanes added pairwise at the end (the
    /// same order on every CPU: no FMA, no reassociation by the compiler).
    @inline(__always)
    private static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var lanes = SIMD8<Float>()
        var q = 0
        while q + 8 <= n {
            lanes += UnsafeRawPointer(a + q).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + q).loadUnaligned(as: SIMD8<Float>.self)
            q += 8
        }
        var tail = SIMD8<Float>()
        for r in 0..<(n - q) { tail[r] = a[q + r] * b[q + r] }
        lanes += tail
        let four = lanes.lowHalf + lanes.highHalf, two = four.lowHalf + four.highHalf
        return two[0] + two[1]
    }
}
