/// Text made safe to print to a terminal. A file or folder name can hold control characters
/// (ESC sequences set a terminal's title or colours, a carriage return overwrites the line),
/// bidirectional overrides that reorder what follows, and bytes that are not UTF-8. Printed as
/// they are, a folder name could rewrite the screen. Like `ls -b`, every such character is shown
/// as a visible escape instead: `\n`, `\r`, `\t`, `\xNN` for other control characters and for
/// bytes that are not UTF-8 (see `PathBytes`), `\uNNNN` for C1 controls and the invisible
/// direction marks (U+202E shows as `\u202e`). Everything else, and the backslash, is unchanged.
///
/// Only for what goes to a terminal (standard output and standard error): JSON, CSV and
/// class_indices.json keep the names exactly.
public enum TerminalText {
    public static func escaped(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = ""
        for u in s.unicodeScalars { append(u, to: &out) }
        return out
    }

    /// As `escaped`, but line breaks stay line breaks: for a message whose lines are its own
    /// (names inside it are escaped where the message is made).
    public static func escapedKeepingLines(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).map { escaped(String($0)) }.joined(separator: "\n")
    }

    static func needsEscape(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0..<0x20, 0x7F...0x9F: return true
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return PathBytes.escapedByte(u) != nil
        }
    }

    private static func append(_ u: Unicode.Scalar, to out: inout String) {
        guard needsEscape(u) else { out.unicodeScalars.append(u); return }
        switch u {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if let byte = PathBytes.escapedByte(u) { out += "\\x" + hex(UInt32(byte), 2) }
            else if u.value < 0x80 { out += "\\x" + hex(u.value, 2) }
            else { out += "\\u" + hex(u.value, 4) }
        }
    }

    private static func hex(_ v: UInt32, _ digits: Int) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, digits - h.count)) + h
    }
}
