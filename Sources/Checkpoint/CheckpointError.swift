/// Everything that can go wrong reading or writing a checkpoint. Each message says what went
/// wrong, where (file, key, byte offset) and what the user can do.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case notACheckpoint(path: String, hint: String)
    case torchScript(path: String)
    case safetensors(path: String)
    case truncated(path: String, what: String)
    case malformed(path: String, what: String)
    case sizeMismatch(path: String, record: String, expected: Int, actual: Int)
    case outOfRange(path: String, key: String, what: String)
    case overflow(path: String, what: String)
    case negativeStride(path: String, key: String, stride: [Int])
    case tooDeep(path: String, limit: Int)
    case pickleStack(path: String, limit: Int, offset: Int)
    case pickleMemo(path: String, limit: Int, offset: Int)
    case pickleObjects(path: String, limit: Int, offset: Int)
    case tooLarge(path: String, what: String, size: Int, used: Int, limit: Int)
    case allocationFailed(path: String, what: String, size: Int)
    case zipBomb(path: String, record: String, what: String)
    case unsupportedOpcode(path: String, opcode: UInt8, offset: Int)
    case unknownGlobals(path: String, globals: [(name: String, offset: Int)])
    case unsupportedTensor(path: String, what: String)
    case hashMismatch(path: String, expectedPrefix: String, actual: String)
    case noStateDict(path: String, what: String)
    /// The model (`ModelKeys`) under a prefix, and keys outside it.
    case keysOutsideModel(path: String, model: ModelKeys, prefix: String, keys: [String])
    /// The model under several prefixes.
    case severalModels(path: String, model: ModelKeys, prefixes: [String])
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "\(path): cannot open: \(reason)"
        case let .notACheckpoint(path, hint):
            return "\(path): not a PyTorch checkpoint (\(hint)). Expected a file written by torch.save: zip (torch >= 1.6), legacy stream or tar."
        case let .torchScript(path):
            return "\(path): this is a TorchScript archive (torch.jit.save), not a state dict. Load it in Python and save `model.state_dict()` with torch.save instead."
        case let .safetensors(path):
            return "\(path): this is a safetensors file, which Graft does not read yet. Convert it with `torch.save(safetensors.torch.load_file(path), \"model.pth\")`."
        case let .truncated(path, what):
            return "\(path): file is truncated: \(what). The download or copy was probably cut short; fetch the file again."
        case let .malformed(path, what):
            return "\(path): malformed checkpoint: \(what)."
        case let .sizeMismatch(path, record, expected, actual):
            return "\(path): record '\(record)' holds \(actual) bytes but its tensor needs \(expected). The file is corrupt or was tampered with."
        case let .outOfRange(path, key, what):
            return "\(path): tensor '\(key)' reaches outside its storage: \(what). The file is corrupt or was tampered with."
        case let .overflow(path, what):
            return "\(path): size overflows: \(what). The file is corrupt or was tampered with."
        case let .negativeStride(path, key, stride):
            return "\(path): tensor '\(key)' has negative strides \(stride), which PyTorch never writes. The file is corrupt or was tampered with."
        case let .tooDeep(path, limit):
            return "\(path): the pickle nests deeper than \(limit) levels; refusing it (a real state dict is shallow)."
        case let .pickleStack(path, limit, offset):
            return "\(path): the pickle piles more than \(limit) values on its stack (pickle byte \(offset)) without gathering them "
                + "into a container: a flat run of values, not nesting. torch.save's pickles hold a few thousand at most; refusing it."
        case let .pickleMemo(path, limit, offset):
            return "\(path): the pickle's memo grows past \(limit) entries (pickle byte \(offset)); torch.save memoizes about nine "
                + "objects per tensor (ResNet-152's state dict: 8 thousand). Refusing it."
        case let .pickleObjects(path, limit, offset):
            return "\(path): the pickle pushes more than \(limit) values, new or fetched from its memo or copied by a call, "
                + "by pickle byte \(offset) (the budget starts at 100000 values and grows by 4 per pickle byte read, "
                + "to 2000000 at most); "
                + "a ResNet-152 state dict pushes about 21 thousand in 115 KB. Refusing it."
        case let .tooLarge(path, what, size, used, limit):
            let already = used > 0 ? ", \(ReadLimits.describe(used)) of it already taken" : ""
            let needed = Int((Double(used) + Double(size)) / 0x1p30 + 1)
            return "\(path): \(what) needs \(ReadLimits.describe(size)) (\(size) bytes), past the \(ReadLimits.describe(limit)) "
                + "this read may allocate\(already). A file claiming far more data than it holds is a zip bomb or corrupt; "
                + "if you trust it, pass --max-memory \(needed) (GiB) to allow it."
        case let .allocationFailed(path, what, size):
            return "\(path): cannot allocate \(ReadLimits.describe(size)) (\(size) bytes) for \(what): the system refused the memory "
                + "(a memory limit such as ulimit -v or a container's). Free memory or raise that limit."
        case let .zipBomb(path, record, what):
            return "\(path): refusing zip record '\(record)': \(what)."
        case let .unsupportedOpcode(path, opcode, offset):
            return "\(path): pickle opcode 0x\(String(opcode, radix: 16)) at byte \(offset) is not allowed in a weights-only checkpoint."
        case let .unknownGlobals(path, globals):
            let list = globals.map { "\($0.name) (pickle byte \($0.offset))" }.joined(separator: ", ")
            return "\(path): the pickle refers to Python objects a weights-only load does not allow: \(list). "
                + "Nothing was executed. If this is a whole pickled model (torch.save(model)), re-save it with "
                + "torch.save(model.state_dict(), path), or pass --allow-objects to extract its tensors as inert data."
        case let .unsupportedTensor(path, what):
            return "\(path): unsupported tensor: \(what)."
        case let .hashMismatch(path, expected, actual):
            let quoted = "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'"
            return "\(path): the file name says its SHA-256 starts with \(expected) but it is \(actual.prefix(16))...: a corrupt or "
                + "incomplete download, or another file saved under this name. Every run reads this same file until it is gone: "
                + "delete it (rm -- \(quoted)), then download it again (give the weights by name and Graft fetches them)."
        case let .noStateDict(path, what):
            return "\(path): no state dict found: \(what)."
        case let .keysOutsideModel(path, model, prefix, keys):
            let shown = keys.count <= 20 ? keys.joined(separator: ", ") : keys.prefix(20).joined(separator: ", ") + ", ... and \(keys.count - 20) more"
            return "\(path): the keys under '\(prefix)' are a \(model.name), but \(keys.count) \(keys.count == 1 ? "key lies" : "keys lie") outside it: \(shown). "
                + "Graft runs the \(model.noun) alone and does not drop weights silently. If the model's output is the \(model.noun)'s, "
                + "save the \(model.noun) alone in Python: torch.save(\(ModelPrefix.pythonPath(prefix)).state_dict(), \"\(model.id).pth\")."
        case let .severalModels(path, model, prefixes):
            let quoted = prefixes.prefix(10).map { "'\($0)'" }
            let paths = quoted.count == 2 ? quoted.joined(separator: " and ") : quoted.joined(separator: ", ") + (prefixes.count > 10 ? ", ..." : "")
            return "\(path): the file holds \(prefixes.count) \(model.name)s, under \(paths); Graft does not guess which one is meant. "
                + "Save the one you want alone in Python, e.g. torch.save(\(ModelPrefix.pythonPath(prefixes.first ?? "")).state_dict(), \"\(model.id).pth\")."
        case let .writeFailed(path, reason):
            return "\(path): cannot write: \(reason)"
        }
    }

    public static func == (a: CheckpointError, b: CheckpointError) -> Bool { a.description == b.description }

    /// A short category name, stable for tests and scripts.
    public var category: String {
        switch self {
        case .cannotOpen: return "cannot_open"
        case .notACheckpoint: return "not_a_checkpoint"
        case .torchScript: return "torchscript"
        case .safetensors: return "safetensors"
        case .truncated: return "truncated"
        case .malformed: return "malformed"
        case .sizeMismatch: return "size_mismatch"
        case .outOfRange: return "out_of_range"
        case .overflow: return "overflow"
        case .negativeStride: return "negative_stride"
        case .tooDeep: return "deep_nesting"
        case .pickleStack: return "pickle_stack"
        case .pickleMemo: return "pickle_memo"
        case .pickleObjects: return "pickle_objects"
        case .tooLarge: return "too_large"
        case .allocationFailed: return "out_of_memory"
        case .zipBomb: return "zip_bomb"
        case .unsupportedOpcode: return "bad_opcode"
        case .unknownGlobals: return "unknown_global"
        case .unsupportedTensor: return "unsupported_tensor"
        case .hashMismatch: return "hash_mismatch"
        case .noStateDict: return "no_state_dict"
        case .keysOutsideModel(_, let model, _, _): return "keys_outside_\(model.id)"
        case .severalModels(_, let model, _): return "several_\(model.id)s"
        case .writeFailed: return "write_failed"
        }
    }
}
