/// A restricted pickle virtual machine. It understands the opcodes `torch.save` emits (and the
/// older and newer protocols' equivalents) and builds inert `PyValue`s. Globals are never
/// imported or called: `TorchGlobals` interprets the few that torch's weights-only loader
/// allows, and any other is recorded (strict mode throws, naming every one of them).
struct PickleMachine {
    let path: String
    /// Stack, memo, object and nesting limits (`ReadLimits`' pickle fields).
    var limits: ReadLimits
    /// Treat unknown classes as inert objects instead of refusing the file.
    var allowObjects = false
    /// Resolves a persistent id (BINPERSID) into a storage or tensor.
    var persistentLoad: (PyValue) throws -> PyValue

    /// Where the containers it builds are recorded, for the reader to empty when it is done
    /// (`PickleArena.release`): the pickle's object graph may have cycles.
    let arena: PickleArena

    private(set) var unknownGlobals: [(name: String, offset: Int)] = []

    init(path: String, allowObjects: Bool = false, limits: ReadLimits = ReadLimits(), arena: PickleArena = PickleArena(),
         persistentLoad: @escaping (PyValue) throws -> PyValue) {
        self.path = path
        self.arena = arena
        self.allowObjects = allowObjects
        self.limits = limits
        self.persistentLoad = persistentLoad
    }

    /// Runs one pickle starting at `reader.offset`; leaves the reader just past its STOP.
    mutating func load(_ reader: inout ByteReader) throws -> PyValue {
        var stack: [PyValue] = []
        var marks: [Int] = []
        var memo: [UInt64: PyValue] = [:]
        let start = reader.offset
        // Values are counted per read (the arena), over every pickle of the file, as they are made.
        defer { arena.bytesRead += reader.offset - start }
        let globals = TorchGlobals(path: path)
        let limits = self.limits

        func pop(_ what: String) throws -> PyValue {
            guard let v = stack.popLast() else {
                throw CheckpointError.malformed(path: path, what: "pickle stack empty at \(what) (byte \(reader.offset))")
            }
            return v
        }
        func top(_ what: String) throws -> PyValue {
            guard let v = stack.last else {
                throw CheckpointError.malformed(path: path, what: "pickle stack empty at \(what) (byte \(reader.offset))")
            }
            return v
        }
        func popMark(_ what: String) throws -> [PyValue] {
            guard let m = marks.popLast(), m <= stack.count else {
                throw CheckpointError.malformed(path: path, what: "\(what) without MARK (byte \(reader.offset))")
            }
            let items = Array(stack[m...])
            stack.removeSubrange(m...)
            return items
        }
        // Every value pushed is counted, fresh or fetched from the memo: whatever a pickle ends
        // up holding in its containers was pushed once, so the count bounds their memory.
        // The budget grows with the bytes read (`ReadLimits.valuesPerByte`), so that a small
        // pickle that copies a large container over and over is refused after little work.
        func count(_ n: Int) throws {
            arena.values += n
            let allowed = limits.values(afterReading: arena.bytesRead + reader.offset - start)
            guard arena.values <= allowed else { throw CheckpointError.pickleObjects(path: path, limit: allowed, offset: reader.offset) }
        }
        func push(_ v: PyValue) throws {
            guard stack.count < limits.maxStack else { throw CheckpointError.pickleStack(path: path, limit: limits.maxStack, offset: reader.offset) }
            try count(1)
            stack.append(v)
        }
        // A container made here: the arena empties it when the read is done (cycles).
        func pushNew(_ v: PyValue) throws {
            try push(v)
            arena.keep(v)
        }
        // A call (REDUCE, NEWOBJ) may copy or scan the containers it is given (OrderedDict of a
        // memoized dict, torch.Size of a list): their elements count as values too, so calling
        // many times on one large memoized container is bounded like pushing its copies.
        func chargeCopies(_ args: [PyValue]) throws {
            for a in args { try count(a.elements?.count ?? a.asDict.map { 2 * $0.count } ?? 0) }
        }
        func checkDepth(_ depth: Int) throws {
            guard depth <= limits.maxDepth else { throw CheckpointError.tooDeep(path: path, limit: limits.maxDepth) }
        }
        // Tuples are values: a chain of TUPLE1s nests without growing the stack, so their
        // depth is bounded where they are made (a refused one is released without recursion).
        func pushTuple(_ items: [PyValue]) throws {
            let t = PyTuple(items)
            try checkDepth(t.depth)
            try push(.tuple(t))
        }
        // A list or dict records the deepest value put into it. A container put into itself
        // (`d['a'] = d`, `l.append(l)`) is a cycle, not nesting: it does not deepen it. (Its depth
        // is read before it is written: reading it while writing it is an exclusivity trap.)
        func deepened(_ container: AnyObject, _ depth: Int, with items: [PyValue]) throws -> Int {
            var deepest = -1
            for item in items where !item.isContainer(container) { deepest = max(deepest, item.depth) }
            let d = max(depth, deepest + 1)
            try checkDepth(d)
            return d
        }
        func memoPut(_ i: UInt64, _ what: String) throws {
            if memo[i] == nil, memo.count >= limits.maxMemo {
                throw CheckpointError.pickleMemo(path: path, limit: limits.maxMemo, offset: reader.offset)
            }
            memo[i] = try top(what)
        }
        func memoGet(_ i: UInt64) throws -> PyValue {
            guard let v = memo[i] else {
                throw CheckpointError.malformed(path: path, what: "pickle refers to memo entry \(i) that was never stored (byte \(reader.offset))")
            }
            return v
        }
        func text(_ bytes: ArraySlice<UInt8>) -> String {
            // Python 2 byte strings: UTF-8, else Latin-1 (torch.load's default encoding).
            if let s = String(validating: bytes, as: UTF8.self) { return s }
            return String(bytes.map { Character(Unicode.Scalar($0)) })
        }
        func utf8(_ bytes: ArraySlice<UInt8>) throws -> String {
            guard let s = String(validating: bytes, as: UTF8.self) else {
                throw CheckpointError.malformed(path: path, what: "invalid UTF-8 string at byte \(reader.offset)")
            }
            return s
        }
        func resolveGlobal(_ module: String, _ name: String, at offset: Int) -> PyValue {
            let g = TorchGlobals.normalize(PyGlobal(module: module, name: name))
            if !TorchGlobals.isKnown(g) && !unknownGlobals.contains(where: { $0.name == g.qualifiedName }) {
                unknownGlobals.append((g.qualifiedName, offset))
            }
            return .global(g)
        }
        func length(_ n: UInt64, _ what: String) throws -> Int {
            guard n <= UInt64(reader.remaining) else {
                throw CheckpointError.truncated(path: path, what: "\(what) of \(n) bytes at byte \(reader.offset), \(reader.remaining) left")
            }
            return Int(n)
        }

        while true {
            let opOffset = reader.offset
            let op = try reader.u8("a pickle opcode")
            switch op {
            case 0x80: _ = try reader.u8("PROTO")                             // PROTO
            case 0x95: _ = try reader.uint(UInt64.self, "FRAME")              // FRAME: just a length hint
            case 0x2E:                                                        // STOP
                return try pop("STOP")
            case 0x28:                                                        // MARK
                guard marks.count < limits.maxDepth else { throw CheckpointError.tooDeep(path: path, limit: limits.maxDepth) }
                marks.append(stack.count)
            case 0x30: _ = try pop("POP")                                     // POP
            case 0x31: _ = try popMark("POP_MARK")                            // POP_MARK
            case 0x32: try push(try top("DUP"))                               // DUP
            case 0x4E: try push(.none)                                        // NONE
            case 0x88: try push(.bool(true))                                  // NEWTRUE
            case 0x89: try push(.bool(false))                                 // NEWFALSE
            case 0x4A: try push(.int(Int64(try reader.uint(Int32.self, "BININT"))))
            case 0x4B: try push(.int(Int64(try reader.u8("BININT1"))))
            case 0x4D: try push(.int(Int64(try reader.uint(UInt16.self, "BININT2"))))
            case 0x8A, 0x8B:                                                  // LONG1, LONG4
                let n = op == 0x8A ? UInt64(try reader.u8("LONG1")) : UInt64(try reader.uint(UInt32.self, "LONG4"))
                guard n <= 64 else { throw CheckpointError.overflow(path: path, what: "a \(n)-byte integer at byte \(opOffset)") }
                let bytes = Array(try reader.take(Int(n), "LONG"))
                try push(PickleMachine.long(bytes))
            case 0x47:                                                        // BINFLOAT (big-endian)
                let bits = try reader.uint(UInt64.self, "BINFLOAT")
                try push(.float(Double(bitPattern: bits.byteSwapped)))
            case 0x58:                                                        // BINUNICODE
                let n = try length(UInt64(try reader.uint(UInt32.self, "BINUNICODE")), "a string")
                try push(.string(try utf8(try reader.take(n))))
            case 0x8C:                                                        // SHORT_BINUNICODE
                let n = Int(try reader.u8("SHORT_BINUNICODE"))
                try push(.string(try utf8(try reader.take(n, "a string"))))
            case 0x8D:                                                        // BINUNICODE8
                let n = try length(try reader.uint(UInt64.self, "BINUNICODE8"), "a string")
                try push(.string(try utf8(try reader.take(n))))
            case 0x55:                                                        // SHORT_BINSTRING (py2 str)
                let n = Int(try reader.u8("SHORT_BINSTRING"))
                try push(.string(text(try reader.take(n, "a string"))))
            case 0x54:                                                        // BINSTRING (py2 str)
                let raw = try reader.uint(Int32.self, "BINSTRING")
                guard raw >= 0 else { throw CheckpointError.malformed(path: path, what: "negative string length at byte \(opOffset)") }
                let n = try length(UInt64(raw), "a string")
                try push(.string(text(try reader.take(n))))
            case 0x43:                                                        // SHORT_BINBYTES
                let n = Int(try reader.u8("SHORT_BINBYTES"))
                try push(.bytes(Array(try reader.take(n, "bytes"))))
            case 0x42:                                                        // BINBYTES
                let n = try length(UInt64(try reader.uint(UInt32.self, "BINBYTES")), "bytes")
                try push(.bytes(Array(try reader.take(n))))
            case 0x8E:                                                        // BINBYTES8
                let n = try length(try reader.uint(UInt64.self, "BINBYTES8"), "bytes")
                try push(.bytes(Array(try reader.take(n))))
            case 0x29: try pushTuple([])                                      // EMPTY_TUPLE
            case 0x85: try pushTuple([try pop("TUPLE1")])
            case 0x86:
                let b = try pop("TUPLE2"), a = try pop("TUPLE2")
                try pushTuple([a, b])
            case 0x87:
                let c = try pop("TUPLE3"), b = try pop("TUPLE3"), a = try pop("TUPLE3")
                try pushTuple([a, b, c])
            case 0x74: try pushTuple(try popMark("TUPLE"))                    // TUPLE
            case 0x5D: try pushNew(.list(PyList()))                           // EMPTY_LIST
            case 0x6C, 0x91:                                                  // LIST, FROZENSET (as a list)
                let l = PyList(try popMark(op == 0x6C ? "LIST" : "FROZENSET"))
                try checkDepth(l.depth)
                try pushNew(.list(l))
            case 0x7D: try pushNew(.dict(PyDict()))                            // EMPTY_DICT
            case 0x64:                                                        // DICT
                let items = try popMark("DICT")
                guard items.count % 2 == 0 else { throw CheckpointError.malformed(path: path, what: "DICT with an odd item count at byte \(opOffset)") }
                let d = PyDict()
                d.depth = try deepened(d, d.depth, with: items)
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
                try pushNew(.dict(d))
            case 0x8F: try pushNew(.list(PyList()))                            // EMPTY_SET (as a list)
            case 0x90:                                                        // ADDITEMS
                let items = try popMark("ADDITEMS")
                guard case .list(let l) = try top("ADDITEMS") else { throw CheckpointError.malformed(path: path, what: "ADDITEMS on a non-set at byte \(opOffset)") }
                l.depth = try deepened(l, l.depth, with: items)
                l.items += items
            case 0x61:                                                        // APPEND
                let v = try pop("APPEND")
                guard case .list(let l) = try top("APPEND") else {
                    throw CheckpointError.malformed(path: path, what: "APPEND on a \(stack.last?.typeName ?? "nothing"), not a list, at byte \(opOffset)")
                }
                l.depth = try deepened(l, l.depth, with: [v])
                l.items.append(v)
            case 0x65:                                                        // APPENDS
                let items = try popMark("APPENDS")
                guard case .list(let l) = try top("APPENDS") else {
                    throw CheckpointError.malformed(path: path, what: "APPENDS on a \(stack.last?.typeName ?? "nothing"), not a list, at byte \(opOffset)")
                }
                l.depth = try deepened(l, l.depth, with: items)
                l.items += items
            case 0x73:                                                        // SETITEM
                let v = try pop("SETITEM"), k = try pop("SETITEM")
                guard case .dict(let d) = try top("SETITEM") else {
                    throw CheckpointError.malformed(path: path, what: "SETITEM on a \(stack.last?.typeName ?? "nothing"), not a dict, at byte \(opOffset)")
                }
                d.depth = try deepened(d, d.depth, with: [k, v])
                d.set(k, v)
            case 0x75:                                                        // SETITEMS
                let items = try popMark("SETITEMS")
                guard items.count % 2 == 0 else { throw CheckpointError.malformed(path: path, what: "SETITEMS with an odd item count at byte \(opOffset)") }
                guard case .dict(let d) = try top("SETITEMS") else {
                    throw CheckpointError.malformed(path: path, what: "SETITEMS on a \(stack.last?.typeName ?? "nothing"), not a dict, at byte \(opOffset)")
                }
                d.depth = try deepened(d, d.depth, with: items)
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
            case 0x49:                                                        // INT (text; I01/I00 are bools)
                let t = String(decoding: try reader.line("INT"), as: UTF8.self)
                if t == "01" { try push(.bool(true)) } else if t == "00" { try push(.bool(false)) }
                else if let v = Int64(t) { try push(.int(v)) }
                else { throw CheckpointError.malformed(path: path, what: "INT '\(t.prefix(30))' at byte \(opOffset)") }
            case 0x4C:                                                        // LONG (text, trailing L)
                var t = String(decoding: try reader.line("LONG"), as: UTF8.self)
                if t.hasSuffix("L") { t.removeLast() }
                if let v = Int64(t) { try push(.int(v)) }
                else if let big = PickleMachine.decimalToBytes(t) { try push(.bigInt(big)) }
                else { throw CheckpointError.malformed(path: path, what: "LONG '\(t.prefix(30))' at byte \(opOffset)") }
            case 0x46:                                                        // FLOAT (text)
                let t = String(decoding: try reader.line("FLOAT"), as: UTF8.self)
                guard let v = Double(t) else { throw CheckpointError.malformed(path: path, what: "FLOAT '\(t.prefix(30))' at byte \(opOffset)") }
                try push(.float(v))
            case 0x70:                                                        // PUT (text index)
                let t = String(decoding: try reader.line("PUT"), as: UTF8.self)
                guard let i = UInt64(t) else { throw CheckpointError.malformed(path: path, what: "PUT '\(t.prefix(30))' at byte \(opOffset)") }
                try memoPut(i, "PUT")
            case 0x67:                                                        // GET (text index)
                let t = String(decoding: try reader.line("GET"), as: UTF8.self)
                guard let i = UInt64(t) else { throw CheckpointError.malformed(path: path, what: "GET '\(t.prefix(30))' at byte \(opOffset)") }
                try push(try memoGet(i))
            case 0x71: try memoPut(UInt64(try reader.u8("BINPUT")), "BINPUT")
            case 0x72: try memoPut(UInt64(try reader.uint(UInt32.self, "LONG_BINPUT")), "LONG_BINPUT")
            case 0x94: try memoPut(UInt64(memo.count), "MEMOIZE")
            case 0x68: try push(try memoGet(UInt64(try reader.u8("BINGET"))))
            case 0x6A: try push(try memoGet(UInt64(try reader.uint(UInt32.self, "LONG_BINGET"))))
            case 0x63:                                                        // GLOBAL
                let module = try utf8(try reader.line("GLOBAL module"))
                let name = try utf8(try reader.line("GLOBAL name"))
                try push(resolveGlobal(module, name, at: opOffset))
            case 0x93:                                                        // STACK_GLOBAL
                let name = try pop("STACK_GLOBAL"), module = try pop("STACK_GLOBAL")
                guard let m = module.asString, let n = name.asString else {
                    throw CheckpointError.malformed(path: path, what: "STACK_GLOBAL without strings at byte \(opOffset)")
                }
                try push(resolveGlobal(m, n, at: opOffset))
            case 0x52:                                                        // REDUCE
                let args = try pop("REDUCE"), callable = try pop("REDUCE")
                guard case .global(let g) = callable, let a = args.elements else {
                    throw CheckpointError.malformed(path: path, what: "REDUCE of a \(callable.typeName) with \(args.typeName) arguments at byte \(opOffset)")
                }
                try chargeCopies(a)
                try pushNew(try globals.call(g, a))
            case 0x81, 0x92:                                                  // NEWOBJ, NEWOBJ_EX
                if op == 0x92 { _ = try pop("NEWOBJ_EX") }
                let args = try pop("NEWOBJ"), cls = try pop("NEWOBJ")
                guard case .global(let g) = cls else {
                    throw CheckpointError.malformed(path: path, what: "NEWOBJ of a \(cls.typeName) at byte \(opOffset)")
                }
                try chargeCopies(args.elements ?? [])
                try pushNew(try globals.instantiate(g, args.elements ?? []))
            case 0x62:                                                        // BUILD
                let state = try pop("BUILD")
                try globals.build(try top("BUILD"), state: state)
            case 0x51:                                                        // BINPERSID
                try push(try persistentLoad(try pop("BINPERSID")))
            default:
                throw CheckpointError.unsupportedOpcode(path: path, opcode: op, offset: opOffset)
            }
        }
    }

    /// A decimal integer (protocol 0/1 LONG) as two's-complement little-endian bytes.
    static func decimalToBytes(_ text: String) -> [UInt8]? {
        var t = Substring(text)
        let negative = t.hasPrefix("-")
        if negative || t.hasPrefix("+") { t = t.dropFirst() }
        guard !t.isEmpty, t.count <= 200, t.allSatisfy(\.isASCII), t.allSatisfy(\.isNumber) else { return nil }
        var mag: [UInt8] = [0]                        // little-endian magnitude
        for c in t.utf8 {
            var carry = Int(c - 48)
            for i in mag.indices {
                let v = Int(mag[i]) * 10 + carry
                mag[i] = UInt8(v & 0xFF); carry = v >> 8
            }
            while carry > 0 { mag.append(UInt8(carry & 0xFF)); carry >>= 8 }
        }
        mag.append(0)                                  // room for the sign bit
        if negative {
            var carry = 1
            for i in mag.indices { let v = Int(~mag[i]) + carry; mag[i] = UInt8(v & 0xFF); carry = v >> 8 }
        }
        return mag
    }

    /// Python's LONG1/LONG4 payload: signed two's complement, little-endian.
    static func long(_ bytes: [UInt8]) -> PyValue {
        if bytes.isEmpty { return .int(0) }
        if bytes.count <= 8 {
            var v: UInt64 = 0
            for (i, b) in bytes.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
            if bytes.count < 8, bytes.last! & 0x80 != 0 { v |= ~0 << (8 * UInt64(bytes.count)) }
            return .int(Int64(bitPattern: v))
        }
        return .bigInt(bytes)
    }
}
