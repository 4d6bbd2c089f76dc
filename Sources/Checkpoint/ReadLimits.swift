import Foundation

/// How much memory and work reading one checkpoint may take. A file that needs more is refused
/// with a `CheckpointError` that names the limit, before the memory is allocated: a hostile or
/// corrupt file (a zip bomb, a tensor spread over a huge shape by zero strides, a pickle that
/// pushes millions of values) is refused quickly instead of exhausting the machine.
public struct ReadLimits: Sendable, Equatable {
    /// The most bytes the reader allocates for the file's data: the storages it reads out of a
    /// zip (inflated or copied), the tensors it copies out of them, and data.pkl. nil: derived
    /// from the file, `defaultMemory(fileSize:)`. `--max-memory` sets it.
    public var maxMemory: Int?
    /// The largest data.pkl read, whatever `maxMemory` says. A state dict's pickle is tens of
    /// KB (ResNet-152's: 115 KB) and a whole pickled model's a few MB.
    public var maxPickleBytes = 64 << 20
    /// Values on the pickle stack at once. torch.save batches SETITEMS and APPENDS by 1000, so
    /// its stacks stay near 2000; a Python tuple of n values needs n.
    public var maxStack = 500_000
    /// Entries in the pickle's memo (one per object the pickler saw: ResNet-152's state dict
    /// has 8 thousand).
    public var maxMemo = 1_000_000
    /// Values the pickles of one file push in all, new, fetched from the memo or copied by a
    /// call (ResNet-152's state dict: 21 thousand; a whole pickled efficientnet_v2_l: under 200
    /// thousand). This bounds the memory the pickle's objects take, a few hundred bytes each at
    /// most, and the work of making them.
    public var maxObjects = 2_000_000
    /// Values allowed before `maxObjects`: `valuesBase` plus `valuesPerByte` for every pickle
    /// byte read so far. Every opcode that pushes a value takes at least one byte, so a real
    /// pickle stays far below; one that copies a big container again and again (torch.Size of a
    /// memoized list, OrderedDict of a memoized dict) is refused after little work, counted as
    /// it goes, instead of after 2 million copies.
    public var valuesBase = 100_000
    public var valuesPerByte = 4

    /// The values a read may have made after reading `bytes` of pickle.
    func values(afterReading bytes: Int) -> Int {
        let (grown, o1) = max(bytes, 0).multipliedReportingOverflow(by: valuesPerByte)
        let (sum, o2) = grown.addingReportingOverflow(valuesBase)
        return o1 || o2 ? maxObjects : min(maxObjects, sum)
    }
    /// Containers (tuples, lists, dicts, MARKs) inside one another.
    public var maxDepth = 1_000

    public init(maxMemory: Int? = nil) {
        self.maxMemory = maxMemory
    }

    /// The memory budget when none is given: twice the file plus 256 MiB. A stored torch.save
    /// zip (torch never compresses its records) needs about its own size, the storages read out
    /// of the file, plus the tensors that copy part of a storage; 256 MiB leaves room for small
    /// files re-zipped with deflate and mostly zeros. A file that claims more than it can justify,
    /// a 3 MB zip whose entry inflates to 3 GiB, is refused before anything is inflated.
    public static func defaultMemory(fileSize: Int) -> Int {
        let (twice, o1) = max(fileSize, 0).multipliedReportingOverflow(by: 2)
        let (sum, o2) = twice.addingReportingOverflow(256 << 20)
        return o1 || o2 ? Int.max : sum
    }

    /// The budget for a file of `fileSize` bytes.
    public func memory(fileSize: Int) -> Int { maxMemory ?? ReadLimits.defaultMemory(fileSize: fileSize) }

    /// Parses a `--max-memory` value: a number of GiB (`4`, `0.5`), or a number with a unit
    /// (`512M`, `512MiB`, `8G`, `8GB`, `1T`, `100000K`, `65536B`; units are powers of 1024).
    public static func parseSize(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Double)] = [("TIB", 0x1p40), ("GIB", 0x1p30), ("MIB", 0x1p20), ("KIB", 0x1p10),
                                         ("TB", 0x1p40), ("GB", 0x1p30), ("MB", 0x1p20), ("KB", 0x1p10),
                                         ("T", 0x1p40), ("G", 0x1p30), ("M", 0x1p20), ("K", 0x1p10), ("B", 1)]
        var number = Substring(t), scale = 0x1p30
        if let (suffix, s) = units.first(where: { t.hasSuffix($0.0) }) {
            number = t.dropLast(suffix.count)
            scale = s
        }
        guard let v = Double(number.trimmingCharacters(in: .whitespaces)), v.isFinite, v > 0 else { return nil }
        let bytes = (v * scale).rounded()
        guard bytes >= 1, bytes < 0x1p62 else { return nil }
        return Int(bytes)
    }

    /// The help of the tools' `--max-memory` option.
    public static let maxMemoryHelp = "The most memory the checkpoint's data may take: GiB (4, 0.5) or with a unit (512M, 8G)."
    public static let maxMemoryDiscussion = """
        Default: twice the file's size plus 256 MiB, which every file torch.save writes fits. A file that claims more \
        than it holds (a zip bomb, a tensor spread over a huge shape by zero strides) is refused before the memory \
        is taken; raise the limit only for a file you trust.
        """

    /// `parseSize` for an ArgumentParser `transform:`: a value it cannot read is an error that
    /// says what it expects.
    public static func parseMaxMemory(_ text: String) throws -> Int {
        guard let v = parseSize(text) else { throw ReadLimitsError.badSize(text) }
        return v
    }

    /// `3221225472` → `3 GiB`, `1610612736` → `1.5 GiB`, `4096` → `4 KiB`.
    public static func describe(_ bytes: Int) -> String {
        let units: [(String, Double)] = [("TiB", 0x1p40), ("GiB", 0x1p30), ("MiB", 0x1p20), ("KiB", 0x1p10)]
        for (name, scale) in units where Double(bytes) >= scale {
            let v = Double(bytes) / scale
            let text = v >= 100 ? String(format: "%.0f", v) : String(format: "%.3g", v)
            return "\(text) \(name)"
        }
        return "\(bytes) bytes"
    }
}

/// The memory one read may still allocate. Every buffer sized from the file goes through
/// `bytes(_:_:)`: charged against the budget first, then asked of the allocator, so that
/// neither a hostile size nor a refused allocation ever traps.
final class MemoryBudget {
    let path: String
    let limit: Int
    private(set) var used = 0

    init(path: String, limit: Int) {
        self.path = path
        self.limit = limit
    }

    /// An unlimited budget (for tests and for readers that only slice a buffer they hold).
    static func unlimited(path: String) -> MemoryBudget { MemoryBudget(path: path, limit: Int.max) }

    /// Counts `n` bytes against the budget, or throws `tooLarge` without counting them.
    func charge(_ n: Int, _ what: @autoclosure () -> String) throws {
        let (total, o) = used.addingReportingOverflow(max(n, 0))
        guard !o, total <= limit else {
            throw CheckpointError.tooLarge(path: path, what: what(), size: n, used: used, limit: limit)
        }
        used = total
    }

    /// `n` bytes, charged against the budget, that `fill` writes in full (or throws). An
    /// allocation the system refuses (a memory limit, `ulimit -v`) is an `allocationFailed`
    /// error, not a trap.
    func bytes(_ n: Int, _ what: @autoclosure () -> String,
               fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> [UInt8] {
        try charge(n, what())
        return try MemoryBudget.allocate(n, what(), path: path, fill: fill)
    }

    /// `n` bytes written by `fill`, or `allocationFailed`: the allocator is asked first (malloc
    /// returns nil where Swift's array allocation would abort the process).
    static func allocate(_ n: Int, _ what: @autoclosure () -> String, path: String,
                         fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> [UInt8] {
        guard n > 0 else { return [] }
        guard n < Int.max / 2, let probe = malloc(n) else {
            throw CheckpointError.allocationFailed(path: path, what: what(), size: n)
        }
        free(probe)
        return try [UInt8](unsafeUninitializedCapacity: n) { buffer, initialized in
            try fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = n
        }
    }
}

/// A `--max-memory` value that is not a size.
public enum ReadLimitsError: Error, CustomStringConvertible {
    case badSize(String)
    public var description: String {
        switch self {
        case .badSize(let t): return "'\(t)' is not a memory size: give GiB (4, 0.5) or a number with a unit (512M, 8G, 65536B)"
        }
    }
}
