import CDNNL

/// `max(x, 0)` element-wise (PyTorch's `nn.ReLU`), same layout and type as the input. The
/// inference graph fuses ReLU into the convs; this op is for unfused graphs.
public final class ReLU {
    public let engine: CPUEngine
    private let plans = PrimitiveCache<MemoryDesc, Primitive>()

    public init(engine: CPUEngine = .shared) { self.engine = engine }

    public func forward(_ x: Tensor) throws -> Tensor {
        let prim = try plans.value(for: x.desc) {
            var data = x.desc.raw
            var ed = dnnl_eltwise_desc_t()
            try dnnlCheck(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, dnnl_eltwise_relu, &data, 0, 0),
                          "dnnl_eltwise_forward_desc_init(relu)")
            return try Primitive.make(&ed, engine: engine, name: "relu on \(x.shape)")
        }
        let dst = try Tensor(desc: prim.md(dnnl_query_dst_md), engine: engine)
        try prim.execute([(DNNL_ARG_SRC, x), (DNNL_ARG_DST, dst)], on: engine)
        return dst
    }
}
