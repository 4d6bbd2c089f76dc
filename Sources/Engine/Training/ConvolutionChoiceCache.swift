import CDNNL
import Foundation

/// `--conv auto`'s measurements kept between runs, so that the same command on the same machine
/// chooses the same algorithms, and so computes the same bytes: a small JSON file (by default
/// `$XDG_CACHE_HOME/graft/conv-choices.json`, else `~/.cache/graft/conv-choices.json`), one entry
/// per conv shape and machine, holding the times `ConvolutionTuner` measured (in whole
/// nanoseconds: the choice is made from exactly what is stored, so a run that measures and a
/// later one that reads choose alike). The key (`key(shape:)`) names Graft's conv code version,
/// oneDNN's version and effective ISA (`ONEDNN_MAX_CPU_ISA` gives another key), the compute
/// threads, the CPU (model name and a hash of its flags) and the shape with its direction
/// (`train`, `eval`).
///
/// The file is anyone's to write, so it is read defensively: opened without following a
/// symbolic link, only a regular file owned by this user of at most `maxBytes`, with at most
/// `maxEntries` entries of plausible times; anything else is ignored (and replaced at the next
/// store). It is written atomically: a new temporary file beside it (`O_EXCL | O_NOFOLLOW`,
/// mode 0600), then renamed over it. Failing to write costs only the next run's measurement.
/// `GRAFT_CONV_CACHE` relocates it (a file path) or turns it off (`off`).
public final class ConvolutionChoiceCache: @unchecked Sendable {
    /// One shape's measurement: nanoseconds per run, and the one-time preparation (inference:
    /// primitive and weights) that `ConvolutionTuner.choose` spreads over the runs expected.
    public struct Timing: Codable, Equatable, Sendable {
        public var direct: Int64
        public var winograd: Int64
        public var directSetup: Int64
        public var winogradSetup: Int64
        public init(direct: Int64, winograd: Int64, directSetup: Int64 = 0, winogradSetup: Int64 = 0) {
            self.direct = direct; self.winograd = winograd; self.directSetup = directSetup; self.winogradSetup = winogradSetup
        }
        enum CodingKeys: String, CodingKey {
            case direct = "direct_ns", winograd = "winograd_ns", directSetup = "direct_setup_ns", winogradSetup = "winograd_setup_ns"
        }
        /// Every time between 1 ns and 1000 s: what a measurement can give.
        var isPlausible: Bool {
            [direct, winograd].allSatisfy { (1...1_000_000_000_000).contains($0) }
                && [directSetup, winogradSetup].allSatisfy { (0...1_000_000_000_000).contains($0) }
        }
    }

    /// What the file holds.
    struct Contents: Codable {
        var format = ConvolutionChoiceCache.format
        var version = ConvolutionChoiceCache.fileVersion
        var entries: [String: Timing] = [:]
    }

    static let format = "graft conv choices"
    static let fileVersion = 1
    /// Graft's convolution code, as far as speed goes: bump it when Conv2d, TrainConv2d or the
    /// Winograd code change what they cost, so that older measurements are no longer used.
    public static let codeVersion = "graft-conv 3"
    /// The largest file read (a full entry is about 300 bytes).
    public static let maxBytes = 1 << 20
    /// The most entries kept; at a store beyond it, other machines' entries go first, then all.
    public static let maxEntries = 2048
    static let maxKeyLength = 1024

    /// The file.
    public let path: String
    private let lock = NSLock()
    /// The entries as last read or written (nil: not read yet).
    private var loaded: [String: Timing]?

    public init(path: String) { self.path = path }

    /// Where the file is for this process: `GRAFT_CONV_CACHE` (a path; `off` or empty: no file),
    /// else `$XDG_CACHE_HOME/graft/conv-choices.json` (an absolute XDG_CACHE_HOME), else
    /// `$HOME/.cache/graft/conv-choices.json`; nil without a home.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> ConvolutionChoiceCache? {
        if let given = environment["GRAFT_CONV_CACHE"] {
            return given.isEmpty || given.lowercased() == "off" ? nil : ConvolutionChoiceCache(path: given)
        }
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return ConvolutionChoiceCache(path: xdg + "/graft/conv-choices.json")
        }
        guard let home = environment["HOME"], home.hasPrefix("/") else { return nil }
        return ConvolutionChoiceCache(path: home + "/.cache/graft/conv-choices.json")
    }

    private static let defaultLock = NSLock()
    nonisolated(unsafe) private static var processDefaultValue: ConvolutionChoiceCache?
    /// The cache a new `ConvolutionTuner` uses: none unless set. The commands set it to
    /// `standard()` at start; tests and libraries that leave it keep no file.
    public static var processDefault: ConvolutionChoiceCache? {
        get { defaultLock.lock(); defer { defaultLock.unlock() }; return processDefaultValue }
        set { defaultLock.lock(); defer { defaultLock.unlock() }; processDefaultValue = newValue }
    }

    // MARK: - The key

    /// This process's part of every key: code and oneDNN versions, ISA, threads, CPU.
    public static func machineKey(isa: String = CPUCapabilities.current.isa, threads: Int = ComputeThreads.current) -> String {
        let v = dnnl_version().pointee
        return "\(codeVersion) | onednn \(v.major).\(v.minor).\(v.patch) \(isa) | \(threads) threads | \(cpu)"
    }

    /// The full key of a shape (`ConvolutionTuner.shapeKey`) on this machine.
    public static func key(shape: String, machine: String = machineKey()) -> String { machine + " | " + shape }

    /// The CPU: /proc/cpuinfo's first "model name", and a hash of its first "flags" line.
    static let cpu: String = {
        guard let h = FileHandle(forReadingAtPath: "/proc/cpuinfo"), let data = try? h.read(upToCount: 1 << 20) else { return "unknown cpu" }
        try? h.close()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        func field(_ name: String) -> String? {
            lines.first { $0.hasPrefix(name) && $0.contains(":") }
                .map { $0[$0.index(after: $0.firstIndex(of: ":")!)...].trimmingCharacters(in: .whitespaces) }
        }
        let flags = field("flags") ?? ""
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325   // FNV-1a
        for b in flags.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return (field("model name") ?? "unknown cpu") + " flags " + String(hash, radix: 16)
    }()

    // MARK: - Reading and writing

    /// The stored measurement of `key`, nil when there is none (or the file cannot be used).
    public func timing(for key: String) -> Timing? {
        lock.lock(); defer { lock.unlock() }
        if loaded == nil { loaded = readFile() }
        return loaded?[key]
    }

    /// Stores `timing` under `key`: merged with what the file holds now, written atomically.
    /// Returns whether the file was written.
    @discardableResult
    public func store(_ timing: Timing, for key: String) -> Bool {
        guard timing.isPlausible, key.utf8.count <= Self.maxKeyLength else { return false }
        lock.lock(); defer { lock.unlock() }
        var entries = readFile()   // what other processes may have added since
        entries[key] = timing
        if entries.count > Self.maxEntries {
            let machine = key.components(separatedBy: " | ").dropLast().joined(separator: " | ")
            entries = entries.filter { $0.key.hasPrefix(machine + " | ") }
            if entries.count > Self.maxEntries { entries = [key: timing] }
        }
        loaded = entries
        return write(Contents(entries: entries))
    }

    /// The file's entries; empty when it is missing, unreadable, not a regular file of this
    /// user, too large, not JSON of this format and version, or holds implausible entries.
    func readFile() -> [String: Timing] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return [:] }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(),
              st.st_size >= 0, st.st_size <= Self.maxBytes else { return [:] }
        var bytes = [UInt8](repeating: 0, count: Self.maxBytes + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            count += n
        }
        guard count <= Self.maxBytes,
              let contents = try? JSONDecoder().decode(Contents.self, from: Data(bytes[0..<count])),
              contents.format == Self.format, contents.version == Self.fileVersion,
              contents.entries.count <= Self.maxEntries,
              contents.entries.allSatisfy({ $0.key.utf8.count <= Self.maxKeyLength && $0.value.isPlausible })
        else { return [:] }
        return contents.entries
    }

    /// Writes `contents` to a new temporary file beside `path`, then renames it over `path`.
    private func write(_ contents: Contents) -> Bool {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        guard let data = try? encoder.encode(contents), data.count <= Self.maxBytes else { return false }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
        }
        let temp = (dir.isEmpty ? "" : dir + "/") + ".conv-choices.\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        var ok = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                offset += n
            }
            return true
        }
        ok = close(fd) == 0 && ok
        if ok && rename(temp, path) == 0 { return true }
        unlink(temp)
        return false
    }
}
