import Checkpoint
import Foundation
import Engine

/// Where a model's tensors come from, by state-dict key: a state dict, or a `Network`'s
/// current values.
public protocol TensorSource {
    func floats(_ key: String) throws -> [Float]
}

extension StateDict: TensorSource {
    public func floats(_ key: String) throws -> [Float] {
        guard let t = self[key] else { throw ModelError.layoutMismatch(family: "model", missing: [key], unexpected: [], wrongShapes: []) }
        guard t.dtype.isFloatingPoint else { throw ModelError.unsupportedDType(key: key, dtype: t.dtype.rawValue) }
        return t.floats()
    }
}

/// A model for inference, derived from its graph: batch norms folded into the convs before
/// them, activations and the residual add fused into the convs as post-ops, activations kept
/// in oneDNN's blocked layouts from the first conv to the pooling, primitives cached per input
/// shape by each op, dropout gone. One forward at a time per model (and per engine).
public final class InferenceModel {
    public let architecture: Architecture
    public let precision: Precision
    public let engine: CPUEngine
    /// Whether batch norms are folded into the convs (with activation and residual add fused
    /// as post-ops), or run as separate ops as PyTorch's modules do (a reference).
    public let foldsBatchNorm: Bool
    let steps: [Step]
    /// For each value, the last step that reads it: its tensor is let go after that step.
    let lastUse: [Int]

    public var numClasses: Int { architecture.numClasses }
    /// Every conv of the plan, in order.
    public var convolutions: [Conv2d] {
        steps.compactMap { if case .conv(let c, _, _) = $0.kind { return c } else { return nil } }
    }
    /// The family member: `resnet34`, `vgg16_bn`, `resnet(custom)`...
    public var name: String { architecture.name }

    /// Whether `logits` runs a large batch as chunks whose busiest step fits in half the
    /// last-level cache; off: one pass for any batch.
    public var chunksBatches = true
    /// The largest chunk, whatever the cache would hold (tests; nil: the cache decides).
    public var chunkLimit: Int?
    /// Bytes per image of the busiest step (its inputs and output), by input size, measured on
    /// the first chunk of that size.
    private var liveBytesPerImage: [[Int]: Int] = [:]

    /// Detects the architecture from the keys and shapes (`Architecture.detect`) and builds it.
    /// `num_batches_tracked` entries are optional. `foldBatchNorm: false` builds the unfused
    /// graph (slower; a reference). `.bf16` throws `EngineError.bf16Unavailable` on a CPU
    /// without bf16 kernels (see `CPUCapabilities`). `convolution: .winograd` computes the 3x3
    /// stride-1 convs (f32) with Winograd (oneDNN's on AVX-512, Graft's own elsewhere): faster,
    /// rounding differently (see `ConvolutionAlgorithm`). `tuner`: each 3x3 stride-1 conv shape
    /// runs what it measures (or has recorded) instead.
    public convenience init(stateDict: StateDict, precision: Precision = .f32, foldBatchNorm: Bool = true,
                            convolution: ConvolutionAlgorithm = .direct, tuner: ConvolutionTuner? = nil,
                            calibration: Calibration? = nil, engine: CPUEngine = .shared) throws {
        try precision.requireSupport()
        try self.init(architecture: Architecture.detect(stateDict), values: stateDict, precision: precision,
                      foldBatchNorm: foldBatchNorm, convolution: convolution, tuner: tuner, calibration: calibration, engine: engine)
    }

    /// `keep`: values that must come out as they are (not fused into the step after them), for
    /// `forward(_:until:)`. `.int8` needs `calibration` (`graft calibrate`'s ranges of this
    /// plan's values) and folds the batch norms.
    public init(architecture: Architecture, values: TensorSource, precision: Precision = .f32, foldBatchNorm: Bool = true,
                convolution: ConvolutionAlgorithm = .direct, tuner: ConvolutionTuner? = nil, keep: Set<Int> = [],
                calibration: Calibration? = nil, engine: CPUEngine = .shared) throws {
        try precision.requireSupport()
        let int8Calibration = precision == .int8 ? calibration : nil
        if precision == .int8 && (int8Calibration == nil || !foldBatchNorm) {
            throw ModelError.badInput("int8 needs a calibration and folded batch norms")
        }
        self.architecture = architecture
        self.precision = precision
        self.engine = engine
        foldsBatchNorm = foldBatchNorm
        let compiler = Compiler(graph: architecture.graph.main, values: values, computeType: precision.dataType, fold: foldBatchNorm,
                                convolution: convolution, tuner: tuner, keep: keep.union([architecture.features]), engine: engine)
        let compiled = try compiler.compile()
        steps = try int8Calibration.map { try Int8Pass(calibration: $0, output: architecture.graph.output, engine: engine).apply(compiled) } ?? compiled
        var last = [Int](repeating: -1, count: architecture.graph.nodes.count + 1)
        for (i, s) in steps.enumerated() { for v in s.inputs { last[v] = i } }
        lastUse = last
        // A conv that adds into its residual's storage must be that value's last reader.
        for (i, s) in steps.enumerated() {
            if case .conv(_, nil, nil) = s.kind, s.inputs.count == 2, last[s.inputs[1]] != i {
                throw ModelError.badInput("the plan would overwrite value \(s.inputs[1]) before its last reader (step \(last[s.inputs[1]]))")
            }
        }
    }

    /// Logits `[N, numClasses]` (plain float32) for a batch `[N, 3, H, W]` in any layout.
    public func forward(_ images: Tensor) throws -> Tensor {
        try forward(images, until: architecture.graph.output)
    }

    /// The tensor of value `target` (the pooled features: `architecture.features`) for a batch.
    public func forward(_ images: Tensor, until target: Int) throws -> Tensor {
        try forward(images, until: target, busiest: nil)
    }

    /// `forward(_:until:)`; with `busiest`, also the bytes of the busiest step's inputs and output
    /// (measured only when asked: this is every batch's path).
    private func forward(_ images: Tensor, until target: Int, busiest: UnsafeMutablePointer<Int>?) throws -> Tensor {
        let s = images.shape
        guard s.count == 4, s[1] == architecture.graph.inputChannels, s[0] > 0 else {
            throw ModelError.badInput("expected images of shape [N, \(architecture.graph.inputChannels), H, W], got \(s)")
        }
        var values = [Tensor?](repeating: nil, count: architecture.graph.nodes.count + 1)
        values[0] = images
        if target == 0 { return images }
        for (i, step) in steps.enumerated() {
            let inputs = try step.inputs.map { v -> Tensor in
                guard let t = values[v] else { throw ModelError.badInput("value \(v) is not computed before step \(i)") }
                return t
            }
            for v in step.inputs where lastUse[v] == i && v != target { values[v] = nil }
            let y = try step.run(inputs, engine: engine)
            if let busiest { busiest.pointee = max(busiest.pointee, inputs.reduce(y.desc.byteCount) { $0 + $1.desc.byteCount }) }
            if step.output == target { return y }
            values[step.output] = y
        }
        throw ModelError.badInput("value \(target) is inside a fused step; build the model with keep: [\(target)]")
    }

    /// Logits, row-major `[batch, numClasses]`, for normalised images in NCHW float32
    /// (`batch * 3 * height * width` values, as torchvision's eval transform produces them).
    ///
    /// A large batch runs as chunks, in order: the largest power of two (at least 4) whose busiest
    /// step (inputs and output, measured on the first chunk) fits in half the last-level cache.
    /// Every activation of a chunk then stays in the cache instead of going to memory and back
    /// between layers (resnet50 at batch 32 on a 2-core EPYC with 32 MiB of L3: int8 181 to 210
    /// images/s, bf16 98 to 112, densenet121 f32 63 to 74).
    public func logits(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        let per = architecture.graph.inputChannels * height * width
        let key = [height, width]
        let cache = Self.lastLevelCache
        guard chunksBatches, batch > Self.smallestChunk else {
            return try pass(images, batch: batch, height: height, width: width)
        }
        var out: [Float] = []
        out.reserveCapacity(batch * numClasses)
        var start = 0
        if liveBytesPerImage[key] == nil {
            // The first chunk measures what an image needs.
            var busiest = 0
            out += try pass(UnsafeBufferPointer(rebasing: images[0..<(Self.smallestChunk * per)]), batch: Self.smallestChunk,
                            height: height, width: width, busiest: &busiest)
            liveBytesPerImage[key] = max(1, busiest / Self.smallestChunk)
            start = Self.smallestChunk
        }
        // A power of two, so that a batch of 32 meets one or two chunk sizes (each its own primitives).
        var chunk = Self.smallestChunk
        while chunk * 2 * liveBytesPerImage[key]! <= cache / 2 && chunk * 2 <= (chunkLimit ?? .max) { chunk *= 2 }
        while start < batch {
            let n = min(chunk, batch - start)
            out += try pass(UnsafeBufferPointer(rebasing: images[(start * per)..<((start + n) * per)]), batch: n, height: height, width: width)
            start += n
        }
        return out
    }

    /// The smallest chunk a batch is cut into: below it, each step's fixed cost shows (batch 4 ran
    /// as fast as batch 32, or faster, for every family measured).
    static let smallestChunk = 4

    /// The last-level cache's bytes, from sysfs (`/sys/devices/system/cpu/cpu0/cache/index*/`:
    /// glibc's sysconf reports the host's whole L3 inside a VM, 384 MiB for 32 here); 8 MiB where
    /// it says nothing (a smaller chunk costs little, a larger one may not fit).
    public static let lastLevelCache: Int = {
        var best: (level: Int, bytes: Int)?
        for i in 0..<8 {
            let dir = "/sys/devices/system/cpu/cpu0/cache/index\(i)/"
            guard let level = (try? String(contentsOfFile: dir + "level", encoding: .utf8)).flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }),
                  let text = try? String(contentsOfFile: dir + "size", encoding: .utf8) else { continue }
            let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
            let scale = t.hasSuffix("K") ? 1 << 10 : t.hasSuffix("M") ? 1 << 20 : 1
            guard let n = Int(t.trimmingCharacters(in: CharacterSet(charactersIn: "KM"))), n > 0 else { continue }
            if best == nil || level > best!.level { best = (level, n * scale) }
        }
        return best?.bytes ?? 8 << 20
    }()

    /// One forward pass over the whole batch; with `busiest`, its busiest step's bytes.
    private func pass(_ images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int,
                      busiest: UnsafeMutablePointer<Int>? = nil) throws -> [Float] {
        let input = try imageBatch(images, batch: batch, height: height, width: width, engine: engine)
        return try forward(input, until: architecture.graph.output, busiest: busiest).floats()
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

    /// Pooled features `[N, C]` (what the classifier reads): what a frozen trunk with batch
    /// norm in eval mode computes. The head-only training path uses it.
    public func features(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        try values(architecture.features, images: images, batch: batch, height: height, width: width)
    }

    /// Value `v` (built with `keep: [v]`), plain float32, for a batch of images.
    public func values(_ v: Int, images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        let input = try imageBatch(images, batch: batch, height: height, width: width, engine: engine)
        return try forward(input, until: v).floats()
    }
}

extension InferenceModel {
    /// One op of the plan: what it reads, the value it makes.
    struct Step {
        enum Kind {
            /// `act?(bn(conv(x)) [+ residual])`, the batch norm folded (or, unfolded, run after it).
            case conv(Conv2d, bn: BatchNorm2d?, add: Add?)
            case batchNorm(BatchNorm2d)
            case add(Add)
            case activation(ActivationLayer)
            case multiply(Multiply)
            case maxPool(MaxPool2d)
            case avgPool(AvgPool2d)
            case concat(Concat)
            case layerNorm(ChannelLayerNorm)
            case channelScale(ChannelScale)
            case channelAffine(ChannelAffine)
            /// A batch norm (and ReLU) of a concatenation, the concatenation never made.
            case concatBatchNorm(ConcatBatchNorm)
            case globalAvgPool(GlobalAvgPool2d)
            case adaptiveAvgPool(AdaptiveAvgPool2d)
            case flatten(Flatten)
            case linear(Linear)
            case identity
            /// An int8 conv or linear (`Int8Pass`).
            case quantized(QuantizedStep)
        }
        let kind: Kind
        let inputs: [Int]
        let output: Int

        func run(_ x: [Tensor], engine: CPUEngine) throws -> Tensor {
            switch kind {
            case let .conv(conv, bn, add):
                if let bn, let add { return try add.forward(bn.forward(conv.forward(x[0])), x[1]) }
                if let add { return try add.forward(conv.forward(x[0]), x[1]) }
                if let bn { return try bn.forward(conv.forward(x[0])) }
                return x.count == 2 ? try conv.forward(x[0], accumulatingInto: x[1]) : try conv.forward(x[0])
            case .batchNorm(let bn): return try bn.forward(x[0])
            case .add(let add): return try add.forward(x[0], x[1])
            case .activation(let a): return try a.forward(x[0])
            case .multiply(let m): return try m.forward(x[0], x[1])
            case .maxPool(let p): return try p.forward(x[0])
            case .avgPool(let p): return try p.forward(x[0])
            case .concat(let c): return try c.forward(x)
            case .layerNorm(let l): return try l.forward(x[0])
            case .channelScale(let s): return try s.forward(x[0])
            case .channelAffine(let a): return try a.forward(x[0])
            case .concatBatchNorm(let c): return try c.forward(x)
            case .globalAvgPool(let p): return try p.forward(x[0])
            case .adaptiveAvgPool(let p): return try p.forward(x[0])
            case .flatten(let f): return try f.forward(x[0])
            case .linear(let l): return try l.forward(x[0])
            case .identity: return x[0]
            case .quantized(let q): return try q.run(x)
            }
        }
    }

    /// Turns a graph into steps, fusing what oneDNN can fuse.
    struct Compiler {
        let graph: Graph
        let values: TensorSource
        let computeType: DataType
        let fold: Bool
        let convolution: ConvolutionAlgorithm
        let tuner: ConvolutionTuner?
        let keep: Set<Int>
        let engine: CPUEngine

        func compile() throws -> [Step] {
            let consumers = graph.consumers
            // The only node reading `v`, when exactly one does and `v` need not come out as is.
            var done = Set<Int>()
            func sole(_ v: Int) -> Int? {
                consumers[v].count == 1 && !keep.contains(v) && !done.contains(consumers[v][0]) ? consumers[v][0] : nil
            }
            // The activation reading `v` alone, which the op making `v` takes as a post-op.
            func activation(after v: Int) -> (node: Int, kind: Activation)? {
                guard let j = sole(v), case .activation(let a) = graph.nodes[j].op, a.fusesAsPostOp else { return nil }
                return (j, a)
            }
            var steps: [(last: Int, step: Step)] = []
            for (i, node) in graph.nodes.enumerated() where !done.contains(i) {
                let output = i + 1
                func emit(_ kind: Step.Kind, _ inputs: [Int], through last: Int) {
                    steps.append((last, Step(kind: kind, inputs: inputs, output: last + 1)))
                    done.insert(last)
                }
                switch node.op {
                case .conv(let c):
                    // conv [-> bn] [-> add(residual)] [-> relu]
                    var last = i
                    var bnNode: Int?
                    if let j = sole(output), case .batchNorm = graph.nodes[j].op { bnNode = j; last = j; done.insert(j) }
                    // A layer scale read only after it (ConvNeXt's) folds into its weights and bias.
                    var layerScale: Int?
                    if fold, bnNode == nil, let j = sole(output), case .layerScale = graph.nodes[j].op { layerScale = j; last = j; done.insert(j) }
                    var residual: Int?
                    if let j = sole(last + 1), graph.nodes[j].op == .add {
                        residual = graph.nodes[j].inputs.first { $0 != last + 1 } ?? graph.nodes[j].inputs[0]
                        last = j; done.insert(j)
                    }
                    let act = activation(after: last + 1)
                    if let a = act { last = a.node; done.insert(last) }
                    var weight = try values.floats(node.path["weight"])
                    var bias = c.bias ? try values.floats(node.path["bias"]) : nil
                    if let j = layerScale {
                        let gamma = try values.floats(graph.nodes[j].path["layer_scale"])
                        let per = weight.count / max(gamma.count, 1)
                        for k in weight.indices { weight[k] *= gamma[k / per] }
                        bias = bias.map { b in b.indices.map { b[$0] * gamma[$0] } }
                    }
                    let bnParameters = try bnNode.map { try batchNormParameters(graph.nodes[$0]) }
                    // The residual is overwritten in place when no later step reads it.
                    let inPlace = residual.map { r in consumers[r].allSatisfy { $0 <= last } && !keep.contains(r) } ?? false
                    if fold, let p = bnParameters {
                        let folded = try p.fold(convWeight: weight, convBias: bias)
                        let conv = try makeConv(c, weight: folded.weight, bias: folded.bias, activation: residual == nil || inPlace ? act?.kind : nil)
                        if let r = residual, !inPlace {
                            emit(.conv(conv, bn: nil, add: Add(activation: act?.kind, engine: engine)), [node.inputs[0], r], through: last)
                        } else {
                            emit(.conv(conv, bn: nil, add: nil), [node.inputs[0]] + (residual.map { [$0] } ?? []), through: last)
                        }
                    } else {
                        let conv = try makeConv(c, weight: weight, bias: bias, activation: bnParameters == nil && residual == nil ? act?.kind : nil)
                        let bn = bnParameters.map { BatchNorm2d($0, activation: residual == nil ? act?.kind : nil, engine: engine) }
                        let add = residual.map { _ in Add(activation: act?.kind, engine: engine) }
                        emit(.conv(conv, bn: bn, add: add), [node.inputs[0]] + (residual.map { [$0] } ?? []), through: last)
                    }
                case .batchNorm:
                    let act = activation(after: output)
                    if fold, act == nil || act?.kind == .relu {
                        // A batch norm no conv comes before (DenseNet's after a pool): one pass, as after a concatenation.
                        emit(.concatBatchNorm(try ConcatBatchNorm(batchNormParameters(node), activation: act?.kind, engine: engine)),
                             node.inputs, through: act?.node ?? i)
                    } else {
                        emit(.batchNorm(BatchNorm2d(try batchNormParameters(node), activation: act?.kind, engine: engine)), node.inputs,
                             through: act?.node ?? i)
                    }
                case .activation(let a):
                    emit(.activation(ActivationLayer(a, engine: engine)), node.inputs, through: i)
                case .multiply:
                    emit(.multiply(Multiply(engine: engine)), node.inputs, through: i)
                case .layerScale:
                    emit(.channelScale(try ChannelScale(values.floats(node.path["layer_scale"]), engine: engine)), node.inputs, through: i)
                case let .channelAffine(scale, shift):
                    emit(.channelAffine(try ChannelAffine(scale: scale, shift: shift, engine: engine)), node.inputs, through: i)
                case let .layerNorm(_, eps):
                    emit(.layerNorm(try ChannelLayerNorm(weight: values.floats(node.path["weight"]), bias: values.floats(node.path["bias"]),
                                                         eps: eps, engine: engine)), node.inputs, through: i)
                case .add:
                    let act = activation(after: output)
                    emit(.add(Add(activation: act?.kind, engine: engine)), node.inputs, through: act?.node ?? i)
                case .maxPool(let p):
                    emit(.maxPool(try MaxPool2d(kernel: p.kernel, stride: p.stride, padding: p.padding, engine: engine)), node.inputs, through: i)
                case .avgPool(let p):
                    emit(.avgPool(try AvgPool2d(kernel: p.kernel, stride: p.stride, padding: p.padding, engine: engine)), node.inputs, through: i)
                case let .adaptiveAvgPool(h, w):
                    if h == 1 && w == 1 { emit(.globalAvgPool(GlobalAvgPool2d(engine: engine)), node.inputs, through: i) }
                    else { emit(.adaptiveAvgPool(try AdaptiveAvgPool2d(outputHeight: h, outputWidth: w, engine: engine)), node.inputs, through: i) }
                case .flatten:
                    // A Linear reads [N, C, H, W] as [N, C * H * W] in any layout: no copy.
                    let intoLinear = consumers[output].allSatisfy { if case .linear = graph.nodes[$0].op { return true } else { return false } }
                    emit(intoLinear ? .identity : .flatten(Flatten(engine: engine)), node.inputs, through: i)
                case .linear(let l):
                    let act = activation(after: output)
                    let weight = try values.floats(node.path["weight"])
                    let bias = l.bias ? try values.floats(node.path["bias"]) : nil
                    let linear = try Linear(weight: weight, outFeatures: l.outFeatures, inFeatures: l.inFeatures, bias: bias,
                                            activation: act?.kind, computeType: computeType, engine: engine)
                    emit(.linear(linear), node.inputs, through: act?.node ?? i)
                case .dropout, .stochasticDepth:
                    emit(.identity, node.inputs, through: i)
                case .concat:
                    // Read only by a batch norm (DenseNet's): normalised where the inputs are.
                    if fold, let j = sole(output), case .batchNorm = graph.nodes[j].op {
                        let act = activation(after: j + 1).flatMap { $0.kind == .relu ? $0 : nil }
                        done.insert(j)
                        emit(.concatBatchNorm(try ConcatBatchNorm(batchNormParameters(graph.nodes[j]), activation: act?.kind, engine: engine)),
                             node.inputs, through: act?.node ?? j)
                    } else {
                        emit(.concat(Concat(engine: engine)), node.inputs, through: i)
                    }
                }
            }
            // A fused step runs where its last node is: every value it reads is made by then.
            return steps.sorted { $0.last < $1.last }.map(\.step)
        }

        func batchNormParameters(_ node: Node) throws -> BatchNormParameters {
            guard case .batchNorm(let b) = node.op else { throw ModelError.badInput("\(node.path) is not a batch norm") }
            return try BatchNormParameters(weight: values.floats(node.path["weight"]), bias: values.floats(node.path["bias"]),
                                           runningMean: values.floats(node.path["running_mean"]),
                                           runningVar: values.floats(node.path["running_var"]), eps: b.eps)
        }

        func makeConv(_ c: Op.Convolution, weight: [Float], bias: [Float]?, activation: Activation?) throws -> Conv2d {
            try Conv2d(weight: weight, shape: c.kernelShape, bias: bias, stride: c.stride, padding: c.padding, paddingWidth: c.paddingWidth, groups: c.groups,
                       activation: activation, computeType: computeType, algorithm: convolution, tuner: tuner, engine: engine)
        }
    }
}
