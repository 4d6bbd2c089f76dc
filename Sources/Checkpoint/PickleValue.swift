/// The values a pickle builds. Containers are reference types so that the memo shares them
/// (a dict memoized before it is filled must be seen filled later): pickle's own semantics.
/// Nothing here ever runs Python code: classes and calls are inert records.
indirect enum PyValue {
    case none
    case bool(Bool)
    case int(Int64)
    case bigInt([UInt8])          // two's-complement little-endian, too wide for Int64
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PyTuple)
    case list(PyList)
    case dict(PyDict)
    case global(PyGlobal)
    case object(PyObject)          // an instance of a class the reader does not interpret
    case storage(StorageRef)
    case tensor(TensorRef)
    case legacyTensor(LegacyTensorBox)  // `torch.FloatTensor()` awaiting BUILD's set_

    var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let g): return "class \(g.qualifiedName)"
        case .object(let o): return o.cls.qualifiedName
        case .storage: return "storage"
        case .tensor, .legacyTensor: return "tensor"
        }
    }

    var asString: String? { if case .string(let s) = self { return s }; return nil }
    var asInt: Int64? {
        switch self {
        case .int(let v): return v
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
    var asDict: PyDict? { if case .dict(let d) = self { return d }; return nil }
    var asTensor: TensorRef? {
        switch self {
        case .tensor(let t): return t
        case .legacyTensor(let box): return box.tensor
        default: return nil
        }
    }
    /// How many containers deep the value goes: 0 for a leaf, 1 for an empty container. Exact
    /// for tuples; for lists and dicts, the deepest value put into them directly (a container
    /// filled after being put into another does not deepen the outer one).
    var depth: Int {
        switch self {
        case .tuple(let t): return t.depth
        case .list(let l): return l.depth
        case .dict(let d): return d.depth
        default: return 0
        }
    }

    /// Whether the value is `container` itself (a list or dict put into itself is a cycle).
    func isContainer(_ container: AnyObject) -> Bool {
        switch self {
        case .list(let l): return l === container
        case .dict(let d): return d === container
        default: return false
        }
    }

    /// Elements of a tuple or list.
    var elements: [PyValue]? {
        switch self {
        case .tuple(let t): return t.items
        case .list(let l): return l.items
        default: return nil
        }
    }
}

struct PyGlobal: Hashable {
    let module: String
    let name: String
    var qualifiedName: String { "\(module).\(name)" }
}

/// A tuple: immutable, so its depth is known when it is made. A class, so that a tuple shared
/// through the memo is one object (released once, walked once).
final class PyTuple {
    fileprivate(set) var items: [PyValue]
    let depth: Int
    init(_ items: [PyValue]) {
        self.items = items
        depth = 1 + (items.lazy.map(\.depth).max() ?? 0)
    }
    deinit { dismantle(&items) }
}

final class PyList {
    var items: [PyValue]
    var depth = 1
    init(_ items: [PyValue] = []) {
        self.items = items
        depth = 1 + (items.lazy.map(\.depth).max() ?? 0)
    }
    deinit { dismantle(&items) }
}

/// A dict or OrderedDict: insertion-ordered; string keys indexed for lookup.
final class PyDict {
    fileprivate(set) var keys: [PyValue] = []
    fileprivate(set) var values: [PyValue] = []
    private var stringIndex: [String: Int] = [:]
    /// The `__dict__` an OrderedDict receives through BUILD (state dicts keep `_metadata` there).
    var attributes: PyDict?
    var depth = 1

    func set(_ key: PyValue, _ value: PyValue) {
        if case .string(let s) = key {
            if let i = stringIndex[s] { values[i] = value; return }
            stringIndex[s] = keys.count
        }
        keys.append(key)
        values.append(value)
    }

    /// Empties the dict, returning what it held (for `dismantle`).
    func drain() -> [PyValue] {
        var out = keys + values
        if let a = attributes { out.append(.dict(a)); attributes = nil }
        keys = []; values = []; stringIndex = [:]
        return out
    }

    subscript(key: String) -> PyValue? {
        guard let i = stringIndex[key] else { return nil }
        return values[i]
    }

    deinit {
        dismantle(&keys)
        dismantle(&values)
        if let a = attributes { attributes = nil; var v = [PyValue.dict(a)]; dismantle(&v) }
    }

    var count: Int { keys.count }
    var pairs: Zip2Sequence<[PyValue], [PyValue]> { zip(keys, values) }
}

/// An object of a class the reader does not interpret, built by NEWOBJ or by a call (REDUCE)
/// and given state by BUILD. Only ever recorded, never executed.
final class PyObject {
    let cls: PyGlobal
    let args: [PyValue]
    var state: PyValue?
    init(cls: PyGlobal, args: [PyValue]) { self.cls = cls; self.args = args }
    deinit {
        var v = args
        if let st = state { v.append(st); state = nil }
        dismantle(&v)
    }
}

/// Releases a value graph without recursion: a hostile pickle can nest containers a million
/// deep (through the memo, with a shallow stack), and freeing that recursively would overflow
/// the thread's stack. Containers this graph owns alone are emptied onto a work list first.
func dismantle(_ items: inout [PyValue]) {
    guard !items.isEmpty else { return }
    var pending = items
    items = []
    while var v = pending.popLast() {
        switch v {
        case .tuple(var t):
            v = .none
            if isKnownUniquelyReferenced(&t) { pending += t.items; t.items = [] }
        case .list(var l):
            v = .none
            if isKnownUniquelyReferenced(&l) { pending += l.items; l.items = [] }
        case .dict(var d):
            v = .none
            if isKnownUniquelyReferenced(&d) { pending += d.drain() }
        case .object(var o):
            v = .none
            if isKnownUniquelyReferenced(&o) {
                pending += o.args
                if let st = o.state { pending.append(st); o.state = nil }
            }
        default:
            break
        }
    }
}

final class LegacyTensorBox {
    let dtype: DType
    var tensor: TensorRef?
    init(dtype: DType) { self.dtype = dtype }
}
