import CDNNL

/// Element types the engine computes in.
public enum DataType: Sendable {
    case f32, bf16

    var dnnl: dnnl_data_type_t { self == .f32 ? dnnl_f32 : dnnl_bf16 }
    public var size: Int { self == .f32 ? 4 : 2 }
}

/// A oneDNN memory descriptor: logical dims, element type and physical layout (plain NCHW,
/// or a blocked layout oneDNN chose). Equal and hashable by its bytes; `==` also asks oneDNN.
public struct MemoryDesc: Hashable, CustomStringConvertible {
    var raw: dnnl_memory_desc_t

    init(raw: dnnl_memory_desc_t) { self.raw = raw }

    /// A descriptor with an explicit layout tag (`dnnl_abcd` is NCHW / OIHW, `dnnl_ab` is NC).
    init(dims: [Int], type: DataType, tag: dnnl_format_tag_t) throws {
        var md = dnnl_memory_desc_t()
        let d = dims.map { Int64($0) }
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, type.dnnl, tag),
                      "dnnl_memory_desc_init_by_tag(dims: \(dims))")
        raw = md
    }

    /// A dense row-major (NCHW for 4-d) descriptor.
    public static func plain(_ dims: [Int], _ type: DataType = .f32) throws -> MemoryDesc {
        try MemoryDesc(dims: dims, type: type, tag: plainTag(dims.count))
    }

    /// "Let the primitive choose" (`format_tag_any`).
    static func any(_ dims: [Int], _ type: DataType) throws -> MemoryDesc {
        try MemoryDesc(dims: dims, type: type, tag: dnnl_format_tag_any)
    }

    static func plainTag(_ ndims: Int) -> dnnl_format_tag_t {
        switch ndims {
        case 1: return dnnl_a
        case 2: return dnnl_ab
        case 3: return dnnl_abc
        case 4: return dnnl_abcd
        case 5: return dnnl_abcde
        default: return dnnl_abcdef
        }
    }

    /// Logical dims (N, C, H, W for activations).
    public var dims: [Int] {
        let n = Int(raw.ndims)
        return withUnsafeBytes(of: raw.dims) { buf in
            (0..<n).map { Int(buf.load(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
    }

    public var dataType: DataType { raw.data_type == dnnl_bf16 ? .bf16 : .f32 }

    /// A blocked layout's strides (per dimension, in elements) and its inner blocks (which
    /// dimensions, how large), nil for another format kind.
    private var blocking: (strides: [Int64], innerIndices: [Int64], innerSizes: [Int64])? {
        guard raw.format_kind == dnnl_blocked else { return nil }
        let b = raw.format_desc.blocking, n = Int(b.inner_nblks)
        func ints<T>(_ t: T, _ count: Int) -> [Int64] { withUnsafeBytes(of: t) { Array($0.bindMemory(to: Int64.self).prefix(count)) } }
        return (ints(b.strides, Int(raw.ndims)), ints(b.inner_idxs, n), ints(b.inner_blks, n))
    }

    /// `dims` in this 4-d activation layout's family (NCHW, NHWC, nChw8c, nChw16c), of this
    /// type or `type`, or nil for another layout.
    func sameLayout(_ dims: [Int], type: DataType? = nil) throws -> MemoryDesc? {
        guard let b = blocking, raw.ndims == 4, dims.count == 4 else { return nil }
        let tag: dnnl_format_tag_t
        switch (b.innerIndices, b.innerSizes) {
        case ([1], [16]): tag = dnnl_aBcd16b
        case ([1], [8]): tag = dnnl_aBcd8b
        case ([], []): tag = b.strides[1] == 1 ? dnnl_acdb : dnnl_abcd
        default: return nil
        }
        return try MemoryDesc(dims: dims, type: type ?? dataType, tag: tag)
    }

    /// One image of this batch layout (`[1, ...]`, the same strides) and the bytes from one image
    /// to the next: nil unless the batch dimension is outermost and unblocked (every activation
    /// layout oneDNN picks for Graft: NCHW, NHWC, nChw8c, nChw16c).
    var image: (desc: MemoryDesc, stride: Int)? {
        guard let b = blocking, raw.ndims >= 2, raw.offset0 == 0 else { return nil }
        let strides = b.strides
        let padded = withUnsafeBytes(of: raw.padded_dims) { Array($0.bindMemory(to: Int64.self).prefix(Int(raw.ndims))) }
        guard !b.innerIndices.contains(0), padded[0] == Int64(dims[0]) else { return nil }
        // The batch outermost: its stride spans everything the other dimensions take.
        guard strides[0] == strides.max(), strides[0] * padded[0] * Int64(dataType.size) == Int64(byteCount) else { return nil }
        var one = raw
        one.dims.0 = 1
        one.padded_dims.0 = 1
        return (MemoryDesc(raw: one), Int(strides[0]) * dataType.size)
    }

    /// Bytes a buffer with this layout needs (padding of blocked layouts included).
    public var byteCount: Int {
        var md = raw
        return Int(dnnl_memory_desc_get_size(&md))
    }

    /// Whether this is the dense row-major layout of its dims.
    public var isPlain: Bool {
        guard let p = try? MemoryDesc.plain(dims, dataType) else { return false }
        return self == p
    }

    public static func == (a: MemoryDesc, b: MemoryDesc) -> Bool {
        var x = a.raw, y = b.raw
        return dnnl_memory_desc_equal(&x, &y) != 0
    }

    public func hash(into h: inout Hasher) {
        // Only fields that equal descriptors share: dims and type. (Layout differences just collide.)
        h.combine(dims)
        h.combine(raw.data_type.rawValue)
    }

    public var description: String {
        "\(dims) \(dataType)\(isPlain ? " plain" : " blocked")"
    }
}
