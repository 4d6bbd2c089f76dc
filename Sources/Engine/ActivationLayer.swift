import CDNNL

/// An activation as an op of its own in inference (`nn.ReLU`, `nn.Hardswish`... not fused into
/// the op before it), same layout and type as the input. Several stages (hardsigmoid's) run
/// one after another, the later ones in place, in f32 (a bf16 input is converted first).
public final class ActivationLayer {
    public let activation: Activation
    public let engine: CPUEngine
    private let plans = PrimitiveCache<MemoryDesc, [Primitive]>()

    public init(_ activation: Activation, engine: CPUEngine = .shared) {
        self.activation = activation
        self.engine = engine
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        // Several stages on bf16 would round after each: compute them in f32 (the output f32).
        let x = activation.eltwise.stages.count > 1 && x.dataType != .f32 ? try engine.reorder(x, to: .plain(x.shape, .f32)) : x
        let stages = try plans.value(for: x.desc) {
            try activation.eltwise.stages.map { s in
                var data = x.desc.raw
                var ed = dnnl_eltwise_desc_t()
                try dnnlCheck(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, s.algorithm, &data, s.alpha, s.beta),
                              "dnnl_eltwise_forward_desc_init(\(activation.rawValue))")
                return try Primitive.make(&ed, engine: engine, name: "\(activation.rawValue) on \(x.shape)")
            }
        }
        let dst = try Tensor(desc: x.desc, engine: engine)
        for (i, prim) in stages.enumerated() {
            try prim.execute([(DNNL_ARG_SRC, i == 0 ? x : dst), (DNNL_ARG_DST, dst)], on: engine)
        }
        return dst
    }
}
