import Foundation

/// The three on-disk forms of torch.save.
public enum CheckpointFormat: String, Sendable {
    case zip, legacy, tar
}

public struct LoadOptions: Sendable {
    /// Extract tensors from pickles that hold whole Python objects (`torch.save(model)`),
    /// treating unknown classes as inert data. Off by default, as in torch's weights-only load.
    public var allowObjects = false
    /// Check `NAME-<hex>.pth` file names against the file's SHA-256, as torch.hub does.
    public var verifyHubHash = true
    /// The model the loader wants, to be found under a wrapper's prefix (`backbone.`); nil:
    /// only DataParallel's `module.` and torch.compile's `_orig_mod.` are removed.
    public var model: ModelKeys?
    /// Other models the loader also takes (every family it knows): the first of `model` and
    /// these that the keys hold is the one looked for.
    public var alternatives: [ModelKeys] = []
    /// The help of `--allow-objects`, the same in every command that reads weights.
    public static let allowObjectsHelp = "Also read a whole pickled model (torch.save(model)): a torchvision model, or a module of your own holding one. Nothing in the file is executed: its classes are taken as inert data and only the tensors are read."

    /// How much memory and pickle work the read may take (`--max-memory`).
    public var limits = ReadLimits()
    public init(allowObjects: Bool = false, verifyHubHash: Bool = true, limits: ReadLimits = ReadLimits(), model: ModelKeys? = nil) {
        self.model = model
        self.allowObjects = allowObjects
        self.verifyHubHash = verifyHubHash
        self.limits = limits
    }
}

/// A checkpoint read from a `.pth` file: its format, the state dict in the file's key order,
/// and what was changed on the way (prefixes removed, container unwrapped, entries dropped).
public struct Checkpoint: Sendable {
    public let path: String
    public let format: CheckpointFormat
    public let stateDict: StateDict
    /// The prefix removed from every key: the one before the loader's model (`LoadOptions.model`)
    /// in a user's module (`backbone.`, `module.model.`), or `module.`/`_orig_mod.` (or both, joined).
    public let removedPrefix: String?
    /// Set when the keys hold the loader's model under a prefix together with keys outside
    /// it, or several of it: `stateDict` then keeps the file's keys, and a loader that needs
    /// the model throws this (see `modelStateDict()`).
    public let wrapperProblem: CheckpointError?
    /// The key of the dict that held the state dict (`state_dict`, `model`...), if any.
    public let containerKey: String?
    /// Human-readable notes: entries that are not tensors and were left out, and the like.
    public let notes: [String]

    /// Reads a checkpoint. Never executes anything from the file.
    public init(contentsOf path: String, options: LoadOptions = LoadOptions()) throws {
        self.path = path
        let bytes = try Checkpoint.contents(of: path)
        let budget = MemoryBudget(path: path, limit: options.limits.memory(fileSize: bytes.count))
        if options.verifyHubHash { try Checkpoint.verifyHubHash(path: path, bytes: bytes) }

        // The file is read once: the zip form is opened from these bytes too, and every tensor
        // is read out of them before `withUnsafeBytes` returns.
        let (format, found, sd) = try bytes.withUnsafeBytes { file in
            try Checkpoint.read(file: file, bytes: bytes, path: path, options: options, budget: budget)
        }
        self.format = format
        stateDict = sd
        removedPrefix = found.removedPrefix
        containerKey = found.containerKey
        wrapperProblem = found.wrapperProblem
        notes = found.notes
    }

    /// The whole file. (A function of its own, so that the `Data` it copies from is gone
    /// before the records are read: the file is in memory once while they are.)
    private static func contents(of path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError.cannotOpen(path: path, reason: "no such file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError.cannotOpen(path: path, reason: "the file cannot be read")
        }
        // The file itself is what justifies the memory; only a refused allocation stops it here.
        return try MemoryBudget.allocate(data.count, "the file's contents", path: path) { data.copyBytes(to: $0) }
    }

    /// The format of the file in `bytes` (`file` is the same bytes), what its pickle holds,
    /// and the state dict's tensors, read out of `file`.
    private static func read(file: UnsafeRawBufferPointer, bytes: [UInt8], path: String, options: LoadOptions,
                             budget: MemoryBudget) throws -> (CheckpointFormat, StateDictExtraction.Found, StateDict) {
        let format: CheckpointFormat
        let object: PyValue
        let materialize: (TensorRef, String) throws -> TensorData
        // What the pickles built is emptied once the state dict's tensors are found: their
        // object graph may hold cycles, which `torch.load` reads and reference counting never frees.
        let arena = PickleArena()
        defer { arena.release() }
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) || bytes.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            format = .zip
            (object, materialize) = try ZipFormat.load(file: file, path: path, options: options, budget: budget, arena: arena)
        } else if TarFormat.isTar(bytes) {
            format = .tar
            (object, materialize) = try TarFormat.load(bytes: bytes, path: path, options: options, budget: budget, arena: arena)
        } else if LegacyFormat.matches(bytes, path: path) {
            format = .legacy
            (object, materialize) = try LegacyFormat.load(bytes: bytes, path: path, options: options, budget: budget, arena: arena)
        } else {
            throw Checkpoint.unrecognized(bytes, path: path)
        }

        let found = try StateDictExtraction.extract(object, path: path, allowObjects: options.allowObjects,
                                                    models: (options.model.map { [$0] } ?? []) + options.alternatives)
        var sd = StateDict()
        for (name, ref) in found.tensors {
            sd[name] = try materialize(ref, name)
        }
        return (format, found, sd)
    }

    /// The state dict, for a loader that builds the model (`LoadOptions.model`) from it:
    /// throws `wrapperProblem` rather than let keys outside the model go unread.
    public func modelStateDict() throws -> StateDict {
        if let problem = wrapperProblem { throw problem }
        return stateDict
    }

    /// What a file that is none of the three forms is, for the error message.
    static func unrecognized(_ bytes: [UInt8], path: String) -> CheckpointError {
        if bytes.isEmpty { return .truncated(path: path, what: "the file is empty") }
        if bytes.starts(with: Array("PYTORCH1".utf8)) {
            return .notACheckpoint(path: path, hint: "the preview-release format of torch 1.0-rc, which no torch reads")
        }
        if bytes.count >= 10 {
            var n: UInt64 = 0
            for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
            if bytes[8] == UInt8(ascii: "{"), n > 1, n < UInt64(bytes.count) { return .safetensors(path: path) }
        }
        if bytes.count >= 2, bytes[0] == 0x80, bytes[1] <= 5 {
            return .notACheckpoint(path: path, hint: "a Python pickle, but not one written by torch.save")
        }
        let kinds: [([UInt8], String)] = [
            ([0x89, 0x50, 0x4E, 0x47], "a PNG image"), ([0xFF, 0xD8, 0xFF], "a JPEG image"),
            (Array("GIF8".utf8), "a GIF image"), (Array("{".utf8), "a JSON or text file"),
            ([0x1F, 0x8B], "a gzip file: decompress it first"), (Array("<".utf8), "an HTML page: the download probably failed"),
        ]
        for (magic, what) in kinds where bytes.starts(with: magic) { return .notACheckpoint(path: path, hint: what) }
        return .notACheckpoint(path: path, hint: "unrecognized content")
    }

    /// torch.hub names downloads `NAME-<first hex digits of SHA-256>.ext`; a mismatch is a
    /// corrupt or incomplete download.
    static func verifyHubHash(path: String, bytes: [UInt8]) throws {
        let name = (path as NSString).lastPathComponent
        guard let prefix = hubHashPrefix(name) else { return }
        let digest = sha256Hex(bytes)
        if !digest.hasPrefix(prefix) { throw CheckpointError.hashMismatch(path: path, expectedPrefix: prefix, actual: digest) }
    }

    /// The hex after the last `-` of a `NAME-<8+ hex>.ext` file name.
    static func hubHashPrefix(_ name: String) -> String? {
        guard let dot = name.lastIndex(of: "."), let dash = name[..<dot].lastIndex(of: "-") else { return nil }
        let hex = name[name.index(after: dash)..<dot]
        guard hex.count >= 8, hex.count <= 64, hex.allSatisfy({ "0123456789abcdef".contains($0) }) else { return nil }
        return String(hex)
    }
}
