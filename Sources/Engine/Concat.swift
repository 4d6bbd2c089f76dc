import CDNNL

/// `torch.cat(inputs, 1)`: tensors with the same N, H and W joined along the channels, in
/// order, by oneDNN's concat (a copy, as torch's). The output's layout is oneDNN's choice (the
/// inputs' blocked layout when every input's channels fill whole blocks, else channels-last);
/// its type is the first input's (the others are converted to it first when they differ).
public final class Concat {
    public let engine: CPUEngine
    private let plans = PrimitiveCache<[MemoryDesc], (primitive: Primitive, channelsLast: [MemoryDesc]?)>()

    public init(engine: CPUEngine = .shared) { self.engine = engine }

    /// The output dims: the inputs' with the channels summed; throws unless the inputs agree.
    public static func outputShape(for inputs: [[Int]]) throws -> [Int] {
        guard let first = inputs.first, first.count >= 2,
              inputs.allSatisfy({ $0.count == first.count && $0[0] == first[0] && $0.dropFirst(2) == first.dropFirst(2) && $0[1] > 0 }) else {
            throw EngineError.shapeMismatch(op: "Concat", expected: "at least one tensor, all [N, C_i, H, W] with the same N, H and W",
                                            actual: inputs.map { "\($0)" }.joined(separator: ", "))
        }
        var out = first
        out[1] = inputs.reduce(0) { $0 + $1[1] }
        return out
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor {
        let out = try Self.outputShape(for: inputs.map(\.shape))
        if inputs.count == 1 { return inputs[0] }
        // One type: the first input's.
        let type = inputs[0].dataType
        var xs = try inputs.map { x -> Tensor in
            x.dataType == type ? x : try engine.reorder(x, to: x.desc.sameLayout(x.shape, type: type) ?? .plain(x.shape, type))
        }
        let p = try plan(xs.map(\.desc), out)
        if let nhwc = p.channelsLast { xs = try zip(xs, nhwc).map { try engine.reorder($0, to: $1) } }
        let dst = try Tensor(desc: p.primitive.md(dnnl_query_dst_md), engine: engine)
        var args: [(Int32, Tensor)] = xs.enumerated().map { (DNNL_ARG_MULTIPLE_SRC + Int32($0.offset), $0.element) }
        args.append((DNNL_ARG_DST, dst))
        try p.primitive.execute(args, on: engine)
        return dst
    }

    /// The concat of inputs laid out as `srcs`, and the layouts to convert them to first (nil:
    /// none). Where the inputs are blocked and some input's channels do not fill whole blocks,
    /// oneDNN concatenates into plain NCHW, which the batch norms and convs after it read
    /// slowly: those concatenate in channels-last instead.
    private func plan(_ srcs: [MemoryDesc], _ out: [Int]) throws -> (primitive: Primitive, channelsLast: [MemoryDesc]?) {
        try plans.value(for: srcs) {
            func make(_ descs: [MemoryDesc]) throws -> Primitive {
                var raws = descs.map(\.raw)
                var pd: dnnl_primitive_desc_t?
                try dnnlCheck(dnnl_concat_primitive_desc_create(&pd, nil, Int32(raws.count), 1, &raws, nil, engine.engine),
                              "dnnl_concat_primitive_desc_create(\(descs.map(\.dims)))")
                return try Primitive(pd!, name: "concat to \(out)")
            }
            let direct = try? make(srcs)
            if let p = direct, !(p.md(dnnl_query_dst_md).isPlain && !srcs.allSatisfy(\.isPlain)) { return (p, nil) }
            let nhwc = try srcs.map { try MemoryDesc(dims: $0.dims, type: $0.dataType, tag: MemoryDesc.channelsLastTag($0.dims.count)) }
            if let p = try? make(nhwc) { return (p, nhwc) }
            return (try direct ?? make(srcs), nil)
        }
    }
}

/// The gradient of `torch.cat(inputs, 1)`: the output gradient's channels cut back into the
/// inputs' pieces, each in the layout and type its input had.
public final class TrainConcat {
    public let engine: CPUEngine
    private let concat: Concat
    private var saved: [MemoryDesc]?

    public init(engine: CPUEngine = .shared) { self.engine = engine; concat = Concat(engine: engine) }

    public func forward(_ inputs: [Tensor], pass: PassKind) throws -> Tensor {
        let y = try concat.forward(inputs)
        saved = pass == .training ? inputs.map(\.desc) : nil
        return y
    }

    /// Each input's gradient where `need` says so (nil for the others). Consumes what the
    /// forward kept.
    public func backward(outputGrad dy: Tensor, need: [Bool]) throws -> [Tensor?] {
        guard let descs = saved else {
            throw EngineError.invalidArgument(op: "TrainConcat.backward", what: "no training forward pass to differentiate")
        }
        defer { release() }
        guard need.count == descs.count, try Concat.outputShape(for: descs.map(\.dims)) == dy.shape else {
            throw EngineError.shapeMismatch(op: "TrainConcat.backward", expected: "the gradient of \(descs.map(\.dims))", actual: "\(dy.shape)")
        }
        return try slices(of: dy, into: descs, need: need)
    }

    /// Channel ranges of `dy` as tensors laid out as `descs`.
    func slices(of dy: Tensor, into descs: [MemoryDesc], need: [Bool]) throws -> [Tensor?] {
        var source = dy
        var out: [Tensor?] = []
        var offset = 0
        for (k, d) in descs.enumerated() {
            defer { offset += d.dims[1] }
            guard need[k] else { out.append(nil); continue }
            var part = try source.desc.channels(offset..<(offset + d.dims[1]))
            if part == nil {
                // A blocked gradient cut inside a block: from a channels-last copy.
                source = try engine.reorder(dy, to: MemoryDesc(dims: dy.shape, type: dy.dataType, tag: MemoryDesc.channelsLastTag(dy.shape.count)))
                part = try source.desc.channels(offset..<(offset + d.dims[1]))
            }
            guard let part else { throw EngineError.invalidArgument(op: "TrainConcat.backward", what: "cannot cut channels of \(dy.desc)") }
            let view = try Tensor(aliasing: source, as: part)
            let dx = try Tensor(desc: d, engine: engine)
            try engine.reorder(view, into: dx)
            out.append(dx)
        }
        return out
    }

    public func release() { saved = nil }
}

extension MemoryDesc {
    /// NHWC for 4-d (`acdb`), its like for other ranks: the channels innermost.
    static func channelsLastTag(_ ndims: Int) -> dnnl_format_tag_t {
        switch ndims {
        case 2: return dnnl_ab
        case 3: return dnnl_acb
        case 5: return dnnl_acdeb
        default: return dnnl_acdb
        }
    }

    /// The sub-tensor of `channels` (all of N, H and W) within this layout, or nil where the
    /// layout cannot express it (a blocked layout cut inside a block).
    func channels(_ channels: Range<Int>) throws -> MemoryDesc? {
        var sub = dnnl_memory_desc_t()
        var parent = raw
        var d = dims.map { Int64($0) }
        d[1] = Int64(channels.count)
        var offsets = [Int64](repeating: 0, count: d.count)
        offsets[1] = Int64(channels.lowerBound)
        let status = dnnl_memory_desc_init_submemory(&sub, &parent, d, offsets)
        return status == dnnl_success ? MemoryDesc(raw: sub) : nil
    }
}
