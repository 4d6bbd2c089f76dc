import Foundation

/// File names as the file system gives them: bytes, which need not be UTF-8. Swift's
/// `String(cString:)`, `CommandLine.arguments` and Foundation repair invalid UTF-8 (each bad byte
/// becomes U+FFFD), so a file called `a\xFF.jpg` could be listed but never opened again. Here a
/// path's bytes become a String that round-trips: valid UTF-8 stays as it is, and every byte that
/// is not part of valid UTF-8 becomes one code point of a private-use range, U+10FF80...U+10FFFF
/// (byte 0xNN → U+10FFNN). Real characters of that range, which no file name should hold, are
/// written byte by byte the same way, so that every String made here turns back into exactly
/// the bytes it came from. Open, stat and list such paths through `withCString`, never by
/// handing the String to a system call (that would pass the private-use characters' UTF-8).
///
/// For display, `TerminalText.escaped` shows those bytes as `\xNN`; for JSON, Python's own
/// spelling of such names (`os.fsdecode`'s surrogate escapes) is `\udcNN`.
public enum PathBytes {
    /// The code point that stands for byte `b` (0x80...0xFF).
    static let base: UInt32 = 0x10FF00

    /// The byte that `u` stands for, when it is one of the private-use escapes.
    public static func escapedByte(_ u: Unicode.Scalar) -> UInt8? {
        u.value >= base + 0x80 ? UInt8(truncatingIfNeeded: u.value - base) : nil
    }

    /// Whether `s` holds a byte that is not UTF-8 (an escape); such a path must go to the
    /// system through `withCString`.
    public static func hasEscapes(_ s: String) -> Bool {
        s.unicodeScalars.contains { $0.value >= base + 0x80 }
    }

    /// The String for a path's bytes (no NUL among them).
    public static func string<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let b = Array(bytes)
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < b.count {
            if let (length, value) = sequence(b, at: i), value < base + 0x80 {
                scalars.append(Unicode.Scalar(value) ?? "?")
                i += length
            } else {
                // Not UTF-8 here (or UTF-8 for an escape code point): escape one byte.
                scalars.append(Unicode.Scalar(base + UInt32(b[i])) ?? "?")
                i += 1
            }
        }
        return String(scalars)
    }

    /// The String for a NUL-terminated path from the system (readdir, realpath, argv).
    public static func string(cString: UnsafePointer<CChar>) -> String {
        string(UnsafeBufferPointer(start: UnsafeRawPointer(cString).assumingMemoryBound(to: UInt8.self), count: strlen(cString)))
    }

    /// The bytes `path` stands for: `string(_:)` undone.
    public static func bytes(_ path: String) -> [UInt8] {
        guard hasEscapes(path) else { return Array(path.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(path.utf8.count)
        for u in path.unicodeScalars {
            if let byte = escapedByte(u) { out.append(byte) } else { out += Array(String(u).utf8) }
        }
        return out
    }

    /// Calls `body` with the path's own bytes as a C string: what every system call on a path
    /// that may come from `string(_:)` needs.
    public static func withCString<R>(_ path: String, _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        guard hasEscapes(path) else { return try path.withCString(body) }
        let raw = bytes(path) + [0]
        return try raw.withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    /// The command line as given, bytes kept (`CommandLine.arguments` repairs invalid UTF-8).
    public static var arguments: [String] {
        (0..<Int(CommandLine.argc)).compactMap { CommandLine.unsafeArgv[$0].map { string(cString: $0) } }
    }

    /// A whole file's bytes, opened by the path's own bytes. Refuses anything that is not a
    /// regular file (a named pipe would block forever, a device could be endless) before
    /// reading from it. Throws the system's reason in plain words.
    public static func readRegularFile(_ path: String) throws -> [UInt8] {
        // stat first: a named pipe is not even opened (opening one for reading waits for a writer).
        var st = stat()
        guard withCString(path, { stat($0, &st) }) == 0 else { throw ReadFailure(reason: systemReason(errno)) }
        if let what = notRegular(st.st_mode) { throw ReadFailure(reason: what, notAFile: true) }
        // O_NONBLOCK: should the path change between stat and open, opening a pipe still returns at once.
        let fd = withCString(path) { open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { throw ReadFailure(reason: systemReason(errno)) }
        defer { close(fd) }
        guard fstat(fd, &st) == 0 else { throw ReadFailure(reason: systemReason(errno)) }
        if let what = notRegular(st.st_mode) { throw ReadFailure(reason: what, notAFile: true) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var out = [UInt8](), chunk = [UInt8](repeating: 0, count: 1 << 16)
        out.reserveCapacity(Int(st.st_size))
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadFailure(reason: systemReason(errno))
            }
            if n == 0 { return out }
            out += chunk[0..<n]
        }
    }

    /// Why `readRegularFile` could not read a file, in plain words.
    public struct ReadFailure: Error, CustomStringConvertible {
        public let reason: String
        /// The path is there but is not a regular file.
        public var notAFile = false
        public var description: String { reason }
    }

    /// What a file that is not a regular file is, in words; nil for a regular file.
    public static func notRegular(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "it is a folder, not a file"
        case S_IFIFO: return "it is a named pipe (FIFO), not a regular file; only regular files are read"
        case S_IFSOCK: return "it is a socket, not a regular file; only regular files are read"
        case S_IFCHR, S_IFBLK: return "it is a device, not a regular file; only regular files are read"
        default: return "it is not a regular file; only regular files are read"
        }
    }

    static func systemReason(_ code: Int32) -> String { String(cString: strerror(code)).lowercased() }

    /// The one well-formed UTF-8 sequence at `i` (RFC 3629: no overlong forms, no surrogates,
    /// nothing above U+10FFFF): its length and code point.
    private static func sequence(_ b: [UInt8], at i: Int) -> (Int, UInt32)? {
        let c0 = b[i]
        if c0 < 0x80 { return (1, UInt32(c0)) }
        func cont(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> UInt32? {
            i + k < b.count && range.contains(b[i + k]) ? UInt32(b[i + k] & 0x3F) : nil
        }
        switch c0 {
        case 0xC2...0xDF:
            guard let c1 = cont(1) else { return nil }
            return (2, UInt32(c0 & 0x1F) << 6 | c1)
        case 0xE0...0xEF:
            let second: ClosedRange<UInt8> = c0 == 0xE0 ? 0xA0...0xBF : c0 == 0xED ? 0x80...0x9F : 0x80...0xBF
            guard let c1 = cont(1, second), let c2 = cont(2) else { return nil }
            return (3, UInt32(c0 & 0x0F) << 12 | c1 << 6 | c2)
        case 0xF0...0xF4:
            let second: ClosedRange<UInt8> = c0 == 0xF0 ? 0x90...0xBF : c0 == 0xF4 ? 0x80...0x8F : 0x80...0xBF
            guard let c1 = cont(1, second), let c2 = cont(2), let c3 = cont(3) else { return nil }
            return (4, UInt32(c0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3)
        default: return nil
        }
    }
}
