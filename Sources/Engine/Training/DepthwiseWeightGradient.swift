/// The weight gradient of a depthwise conv (one filter per channel) where oneDNN 2.6 has no jit
/// backward-weights kernel (5x5 filters: its gemm fallback took 9 s for efficientnet_b0's
/// `features.3.0` depthwise conv at batch 32, half of a training step; this takes milliseconds):
/// `dw[c, i, j] = sum over n, y, x of dy[n, c, y, x] * src[n, c, y * s - p + i, x * s - p + j]`,
/// each row's products summed in float, the rows in float64. Plain NCHW in, `[C, 1, k, k]` out.
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
            for c in channels {
                for i in 0..<k {
                    for j in 0..<k {
                        let xs = cols[j]
                        var total = 0.0
                        for b in 0..<s.batch {
                            let plane = b * s.channels + c
                            let x = src + plane * ih * iw, g = outputGrad + plane * oh * ow
                            for y in 0..<oh {
                                let yy = y * s.stride - s.padding + i
                                guard yy >= 0 && yy < ih else { continue }
                                let gRow = g + y * ow, xRow = x + yy * iw - s.padding + j
                                var row: Float = 0
                                for xo in xs { row += gRow[xo] * xRow[xo * s.stride] }
                                total += Double(row)
                            }
                        }
                        dw[(c * k + i) * k + j] = Float(total)
                    }
                }
            }
        }
    }
}
