/// The globals a weights-only checkpoint may name, and what each one builds. This is the
/// allowlist of `torch.load(weights_only=True)`: containers, storage and tensor classes,
/// dtypes and the tensor rebuild functions. Interpreting one means building a value from its
/// arguments; nothing is imported or executed.
struct TorchGlobals {
    let path: String

    /// Python 2 module names, as torch's IMPORT_MAPPING maps them.
    static func normalize(_ g: PyGlobal) -> PyGlobal {
        switch g.module {
        case "__builtin__": return PyGlobal(module: "builtins", name: g.name)
        case "copy_reg": return PyGlobal(module: "copyreg", name: g.name)
        default: return g
        }
    }

    static let rebuilders: Set<String> = [
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2",
    ]
    /// Allowed by torch but describing tensors Graft cannot use: refused by name when called.
    static let refusedRebuilders: Set<String> = [
        "torch._utils._rebuild_qtensor", "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_nested_tensor",
        "torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_wrapper_subclass",
        "torch._utils._rebuild_device_tensor_from_numpy", "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    ]
    static let plain: Set<String> = [
        "collections.OrderedDict", "collections.Counter", "builtins.set", "builtins.frozenset", "builtins.complex",
        "builtins.bytearray", "_codecs.encode", "torch.Size", "torch.device", "torch.Tensor",
        "torch.nn.parameter.Parameter", "torch.serialization._get_layout", "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage", "torch.storage._load_from_bytes",
    ]

    static func isKnown(_ g: PyGlobal) -> Bool {
        let q = g.qualifiedName
        if rebuilders.contains(q) || refusedRebuilders.contains(q) || plain.contains(q) { return true }
        if g.module == "torch" || g.module == "torch.cuda" {
            if g.name.hasSuffix("Storage") || g.name.hasSuffix("Tensor") { return true }
            if torchDtypeNames.contains(g.name) { return true }
            if g.name.hasPrefix("per_") { return true }   // quantization schemes
        }
        return false
    }

    static let torchDtypeNames: Set<String> = [
        "float32", "float", "float64", "double", "float16", "half", "bfloat16", "int64", "long", "int32", "int",
        "int16", "short", "int8", "uint8", "bool", "complex64", "complex128", "cfloat", "cdouble", "uint16", "uint32",
        "uint64", "float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz", "float8_e8m0fnu",
        "complex32", "qint8", "quint8", "qint32", "quint4x2", "quint2x4", "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
    ]

    static func dtype(named name: String) -> DType? {
        switch name {
        case "float32", "float": return .float32
        case "float64", "double": return .float64
        case "float16", "half": return .float16
        case "bfloat16": return .bfloat16
        case "int64", "long": return .int64
        case "int32", "int": return .int32
        case "int16", "short": return .int16
        case "int8": return .int8
        case "uint8": return .uint8
        case "bool": return .bool
        default: return nil
        }
    }

    // MARK: REDUCE

    func call(_ g: PyGlobal, _ args: [PyValue]) throws -> PyValue {
        let q = g.qualifiedName
        switch q {
        case "collections.OrderedDict", "collections.Counter":
            let d = PyDict()
            if let first = args.first {
                if case .dict(let src) = first {
                    for (k, v) in src.pairs { d.set(k, v) }
                } else if let pairs = first.elements {
                    for p in pairs {
                        guard let kv = p.elements, kv.count == 2 else {
                            throw CheckpointError.malformed(path: path, what: "OrderedDict built from a \(p.typeName), not a pair")
                        }
                        d.set(kv[0], kv[1])
                    }
                }
            }
            return .dict(d)
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v3":
            return .tensor(try rebuildTensor(q, args))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let t = args.first, t.asTensor != nil else {
                throw CheckpointError.malformed(path: path, what: "\(g.name) without a tensor")
            }
            return t
        case "torch._tensor._rebuild_from_type_v2":
            guard args.count >= 3, case .global(let f) = args[0], let inner = args[2].elements else {
                throw CheckpointError.malformed(path: path, what: "_rebuild_from_type_v2 with unexpected arguments")
            }
            return try call(f, inner)
        case "torch.Size", "builtins.set", "builtins.frozenset":
            return .tuple(PyTuple(args.first?.elements ?? []))
        case "torch.device":
            return .string(args.compactMap { v -> String? in
                if let s = v.asString { return s }
                if let i = v.asInt { return String(i) }
                return nil
            }.joined(separator: ":"))
        case "_codecs.encode":
            // Protocol-2 bytes: ('latin-1 text', 'latin1').
            guard let s = args.first?.asString else { return .bytes([]) }
            return .bytes(s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        case "builtins.bytearray":
            if case .bytes(let b)? = args.first { return .bytes(b) }
            return .bytes([])
        default:
            if TorchGlobals.refusedRebuilders.contains(q) {
                throw CheckpointError.unsupportedTensor(path: path, what: "\(q) (quantized, sparse, nested or device-only tensors are not supported)")
            }
            if (g.module == "torch" || g.module == "torch.cuda"), g.name.hasSuffix("Tensor"), let dt = DType(tensorClassName: g.name) {
                return .legacyTensor(LegacyTensorBox(dtype: dt))   // old `torch.FloatTensor()` + BUILD set_
            }
            return .object(PyObject(cls: g, args: args))          // inert
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`,
    /// `_rebuild_tensor(storage, offset, size, stride)`, `_rebuild_tensor_v3(..., dtype[, metadata])`.
    private func rebuildTensor(_ q: String, _ args: [PyValue]) throws -> TensorRef {
        guard args.count >= 4, case .storage(let storage) = args[0], let offset = args[1].asInt,
              let size = args[2].elements, let stride = args[3].elements else {
            throw CheckpointError.malformed(path: path, what: "\(q) with unexpected arguments (\(args.map(\.typeName)))")
        }
        var dtype = storage.dtype
        var metadataIndex = 6
        if q.hasSuffix("_v3") {
            metadataIndex = 7
            guard args.count >= 7, case .global(let dg) = args[6] else {
                throw CheckpointError.malformed(path: path, what: "_rebuild_tensor_v3 without a dtype")
            }
            guard let dt = TorchGlobals.dtype(named: dg.name) else {
                throw CheckpointError.unsupportedTensor(path: path, what: "dtype torch.\(dg.name)")
            }
            dtype = dt
        }
        guard let dt = dtype else { throw CheckpointError.malformed(path: path, what: "tensor on an untyped storage without a dtype") }
        if q.hasSuffix("_v2") || q.hasSuffix("_v3"), args.count > metadataIndex, let meta = args[metadataIndex].asDict, meta.count > 0 {
            throw CheckpointError.unsupportedTensor(path: path, what: "tensor metadata \(meta.keys.compactMap(\.asString)) (conjugate or negative views)")
        }
        func ints(_ vs: [PyValue], _ what: String) throws -> [Int] {
            try vs.map {
                guard let v = $0.asInt, let i = Int(exactly: v) else {
                    throw CheckpointError.malformed(path: path, what: "tensor \(what) holds a \($0.typeName)")
                }
                return i
            }
        }
        return TensorRef(storage: storage, dtype: dt, offset: Int(offset), shape: try ints(size, "size"), stride: try ints(stride, "stride"))
    }

    // MARK: NEWOBJ and BUILD

    func instantiate(_ g: PyGlobal, _ args: [PyValue]) throws -> PyValue {
        if g.qualifiedName == "collections.OrderedDict" { return .dict(PyDict()) }
        if g.qualifiedName == "torch.nn.parameter.Parameter" || g.qualifiedName == "torch.Tensor" {
            if let t = args.first, t.asTensor != nil { return t }
        }
        return .object(PyObject(cls: g, args: args))
    }

    func build(_ target: PyValue, state: PyValue) throws {
        switch target {
        case .dict(let d):
            // OrderedDict.__dict__ update: state dicts carry `_metadata` this way.
            if case .dict(let s) = state { d.attributes = s }
        case .legacyTensor(let box):
            // tensor.set_(storage, storage_offset, size, stride)
            guard let a = state.elements, a.count >= 4, case .storage(let st) = a[0], let off = a[1].asInt,
                  let size = a[2].elements, let stride = a[3].elements else {
                throw CheckpointError.malformed(path: path, what: "legacy tensor state is a \(state.typeName)")
            }
            box.tensor = TensorRef(storage: st, dtype: st.dtype ?? box.dtype, offset: Int(off),
                                   shape: size.compactMap { $0.asInt.map(Int.init) }, stride: stride.compactMap { $0.asInt.map(Int.init) })
        case .object(let o):
            if o.cls.qualifiedName == "torch.nn.parameter.Parameter", let a = state.elements, let t = a.first, t.asTensor != nil {
                o.state = t   // legacy Parameter: (data, requires_grad, ...)
            } else {
                o.state = state
            }
        case .tensor:
            break  // Parameter/Tensor __setstate__ with python attributes: nothing to keep
        default:
            throw CheckpointError.malformed(path: path, what: "BUILD on a \(target.typeName)")
        }
    }
}
