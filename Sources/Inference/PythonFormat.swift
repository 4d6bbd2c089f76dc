import Checkpoint
import Foundation
import Imaging

/// The few Python formatting rules the tutorial scripts' output depends on, reproduced exactly.
public enum PythonFormat {
    /// `'{:.3}'.format(x)`: 3 significant digits, general format, but a fixed-point result keeps
    /// at least one digit after the point (1.0 → "1.0", 0.99876 → "0.999", 1.2345e-05 → "1.23e-05").
    public static func general3(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x < 0 ? "-inf" : "inf" }
        // Python switches to scientific notation when the exponent (after rounding to 3
        // digits) is < -4 or >= precision - 1, one earlier than C's %g.
        let sci = String(format: "%.2e", x)
        let exponent = Int(sci[sci.index(after: sci.firstIndex(of: "e")!)...]) ?? 0
        if exponent < -4 || exponent >= 2 {
            var mantissa = String(sci[..<sci.firstIndex(of: "e")!])
            if mantissa.contains(".") {
                while mantissa.hasSuffix("0") { mantissa.removeLast() }
                if mantissa.hasSuffix(".") { mantissa.removeLast() }
            }
            return mantissa + String(sci[sci.firstIndex(of: "e")!...])
        }
        var s = String(format: "%.3g", x)
        if !s.contains(".") { s += ".0" }
        return s
    }

    /// `'{:10}'.format(s)`: left-aligned, padded with spaces to `width` code points.
    public static func leftPadded(_ s: String, _ width: Int) -> String {
        let n = s.unicodeScalars.count
        return n >= width ? s : s + String(repeating: " ", count: width - n)
    }

    /// Python's `sorted()` on strings: code-point order, case-sensitive, no normalisation. A
    /// byte that is not UTF-8 (`PathBytes`) sorts as Python's `os.listdir` gives it: the
    /// surrogate escape U+DC80...U+DCFF.
    public static func codePointLess(_ a: String, _ b: String) -> Bool {
        func python(_ u: Unicode.Scalar) -> UInt32 { PathBytes.escapedByte(u).map { 0xDC00 + UInt32($0) } ?? u.value }
        return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { python($0) < python($1) }
    }

    /// A JSON string as `json.dumps` writes it (`ensure_ascii=True` by default). A byte that is
    /// not UTF-8 (`PathBytes`) is written `\udcNN`, as json.dumps writes the surrogate escape
    /// Python's `os.listdir` gives it.
    public static func jsonString(_ s: String, asciiOnly: Bool = true) -> String {
        guard PathBytes.hasEscapes(s) else { return JSONText.string(s, asciiOnly: asciiOnly) }
        var out = "\""
        for u in s.unicodeScalars {
            if let byte = PathBytes.escapedByte(u) { out += "\\udc" + String(byte, radix: 16) }
            else { out += JSONText.string(String(u), asciiOnly: asciiOnly).dropFirst().dropLast() }
        }
        return out + "\""
    }

    /// A float for JSON output: the shortest text that reads back as the same Float.
    public static func jsonNumber(_ x: Float) -> String {
        if !x.isFinite { return "null" }
        return "\(x)"
    }
}
