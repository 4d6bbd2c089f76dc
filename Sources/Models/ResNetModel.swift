import Checkpoint
import Engine

/// A torchvision ResNet for inference: the plan derived from a `ResNetLayout` and its values
/// (a state dict, or a `ResNetModule`'s current ones). Batch norms are folded into the convs;
/// activations stay in oneDNN's blocked layout from the stem to the pooling. An appended head
/// (`fc.0`, `fc.1`) runs as two Linears. One forward at a time per model (and per engine).
public final class ResNetModel {
    public let spec: ResNetSpec
    public let precision: Precision
    public let engine: CPUEngine

    let stem: ConvBN
    let maxPool: MaxPool2d
    let blocks: [ResidualBlock]
    let avgPool: GlobalAvgPool2d
    let head: [Linear]

    /// `resnet18`... or `resnet(custom)`.
    public var architecture: String { spec.name }
    public var numClasses: Int { spec.numClasses }

    /// Whether batch norms are folded into the convs (with ReLU and residual add fused as
    /// post-ops), or run as separate ops as PyTorch's modules do.
    public let foldsBatchNorm: Bool

    /// Detects the architecture from the keys and shapes (see `ResNetSpec.detect`) and builds it.
    /// `num_batches_tracked` entries are optional. `foldBatchNorm: false` builds the unfused
    /// graph (slower; a reference, and the shape a training graph takes). `.bf16` throws
    /// `EngineError.bf16Unavailable` on a CPU without bf16 kernels (see `CPUCapabilities`).
    /// `convolution: .winograd` computes the 3x3 stride-1 convs (f32) with Winograd (oneDNN's on
    /// AVX-512, Graft's own elsewhere): faster, rounding differently (see `ConvolutionAlgorithm`).
    /// `tuner`: each 3x3 stride-1 conv shape runs what it measures (or has recorded) instead.
    public convenience init(stateDict: StateDict, precision: Precision = .f32, foldBatchNorm: Bool = true,
                            convolution: ConvolutionAlgorithm = .direct, tuner: ConvolutionTuner? = nil,
                            engine: CPUEngine = .shared) throws {
        try precision.requireSupport()
        let spec = try ResNetSpec.detect(shapes: stateDict.items.map { ($0.key, $0.value.shape) })
        try self.init(layout: ResNetLayout(spec), values: StateDictValues(stateDict: stateDict), precision: precision,
                      foldBatchNorm: foldBatchNorm, convolution: convolution, tuner: tuner, engine: engine)
    }

    /// `tuner`: the 3x3 stride-1 convs run what it measures (or has recorded) per shape, as
    /// `--conv auto` does; `convolution` is then ignored.
    init(layout: ResNetLayout, values: LayerValues, precision: Precision, foldBatchNorm: Bool,
         convolution: ConvolutionAlgorithm = .direct, tuner: ConvolutionTuner? = nil, engine: CPUEngine) throws {
        try precision.requireSupport()
        spec = layout.spec
        self.precision = precision
        self.engine = engine
        foldsBatchNorm = foldBatchNorm
        let b = PlanBuilder(values: values, computeType: precision.dataType, foldBatchNorm: foldBatchNorm,
                            convolution: convolution, tuner: tuner, engine: engine)
        stem = try b.unit(layout.stem)
        maxPool = try MaxPool2d(kernel: 3, stride: 2, padding: 1, engine: engine)
        blocks = try layout.blocks.map(b.block)
        avgPool = GlobalAvgPool2d(engine: engine)
        head = try layout.head.map(b.linear)
    }

    /// Logits `[N, numClasses]` (plain float32) for a batch `[N, 3, H, W]` in any layout.
    public func forward(_ images: Tensor) throws -> Tensor {
        let s = images.shape
        guard s.count == 4, s[1] == 3, s[0] > 0 else {
            throw ResNetError.badInput("expected images of shape [N, 3, H, W], got \(s)")
        }
        var x = try avgPool.forward(trunk(images))
        for fc in head { x = try fc.forward(x) }
        return x
    }

    /// Logits, row-major `[batch, numClasses]`, for normalised images in NCHW float32
    /// (`batch * 3 * height * width` values, as torchvision's eval transform produces them).
    public func logits(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        let input = try imageBatch(images, batch: batch, height: height, width: width, engine: engine)
        return try forward(input).floats()
    }

    public func logits(images: [Float], batch: Int, height: Int, width: Int) throws -> [Float] {
        try images.withUnsafeBufferPointer { try logits(images: $0, batch: batch, height: height, width: width) }
    }

    /// Softmax of the logits over the classes, row-major `[batch, numClasses]`.
    public func probabilities(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        try Softmax.forward(logits(images: images, batch: batch, height: height, width: width), rows: batch, cols: numClasses)
    }

    public func probabilities(images: [Float], batch: Int, height: Int, width: Int) throws -> [Float] {
        try images.withUnsafeBufferPointer { try probabilities(images: $0, batch: batch, height: height, width: width) }
    }
}
