import Checkpoint
import Engine

/// A torchvision ResNet (resnet18/34/50/101/152 and the variants its state dict describes)
/// for inference, built from a state dict with torchvision's key names. Batch norms are folded
/// into the convs; activations stay in oneDNN's blocked layout from the stem to the pooling.
/// One forward at a time per model (and per engine).
public final class ResNetModel {
    public let spec: ResNetSpec
    public let precision: Precision
    public let engine: CPUEngine

    let stem: ConvBN
    let maxPool: MaxPool2d
    let blocks: [ResidualBlock]
    let avgPool: GlobalAvgPool2d
    let fc: Linear

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
    public init(stateDict: StateDict, precision: Precision = .f32, foldBatchNorm: Bool = true,
                engine: CPUEngine = .shared) throws {
        try precision.requireSupport()
        spec = try ResNetSpec.detect(shapes: stateDict.items.map { ($0.key, $0.value.shape) })
        self.precision = precision
        self.engine = engine
        foldsBatchNorm = foldBatchNorm
        let b = ConvBNBuilder(stateDict: stateDict, computeType: precision.dataType, foldBatchNorm: foldBatchNorm, engine: engine)
        stem = try b.unit("conv1", bn: "bn1", stride: 2, padding: 3, relu: true)
        maxPool = try MaxPool2d(kernel: 3, stride: 2, padding: 1, engine: engine)
        var blocks: [ResidualBlock] = []
        for (s, n) in spec.layers.enumerated() {
            for i in 0..<n { blocks.append(try b.block(spec, stage: s, index: i)) }
        }
        self.blocks = blocks
        avgPool = GlobalAvgPool2d(engine: engine)
        let fcShape = b.shape("fc.weight")
        fc = try Linear(weight: b.floats("fc.weight"), outFeatures: fcShape[0], inFeatures: fcShape[1],
                        bias: b.floats("fc.bias"), computeType: precision.dataType, engine: engine)
    }

    /// Logits `[N, numClasses]` (plain float32) for a batch `[N, 3, H, W]` in any layout.
    public func forward(_ images: Tensor) throws -> Tensor {
        let s = images.shape
        guard s.count == 4, s[1] == 3, s[0] > 0 else {
            throw ResNetError.badInput("expected images of shape [N, 3, H, W], got \(s)")
        }
        var x = try maxPool.forward(stem.forward(images))
        for block in blocks { x = try block.forward(x) }
        return try fc.forward(avgPool.forward(x))
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
