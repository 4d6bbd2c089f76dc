/// multipart/form-data bodies (RFC 7578 over RFC 2046's multipart syntax), as browsers, curl's
/// `-F` and Python's requests send them: `graft serve`'s uploads.
///
/// Written here because the body comes from strangers: every byte is checked, nothing is
/// indexed by a byte's value, and a malformed or truncated body is an error, never a shorter
/// answer. (multipart-kit 4.7.1, the package the mirror has, traps on a header name byte
/// above 127.) Fuzzed: `make fuzz FUZZ_TARGETS=multipart`.
public enum FormData {
    /// One part: its headers (names as sent), its body (a copy of the bytes between its header
    /// block and the next delimiter).
    public struct Part: Sendable, Equatable {
        public let headers: [Header]
        public let body: [UInt8]

        /// The first header of that name (case-insensitive).
        public func header(_ name: String) -> String? {
            let lower = name.lowercased()
            return headers.first { $0.name.lowercased() == lower }?.value
        }

        /// `Content-Disposition`'s `name` parameter: the form field.
        public var name: String? { header("Content-Disposition").flatMap { FormData.parameters($0).parameters["name"] } }

        /// `Content-Disposition`'s `filename` parameter, nil where absent or empty.
        public var filename: String? {
            header("Content-Disposition").flatMap { FormData.parameters($0).parameters["filename"] }.flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    public struct Header: Sendable, Equatable {
        public let name: String
        public let value: String
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// The boundary is empty, longer than 70 characters, or has characters RFC 2046 does not allow.
        case badBoundary
        /// No delimiter line starts the body.
        case noOpeningDelimiter
        /// A delimiter is followed by something other than CRLF or `--`.
        case badDelimiter(part: Int)
        /// A header line is not `name: value` with a token for the name, or the block is too large.
        case badHeader(part: Int)
        /// The body ends inside a part: no delimiter after it, or no closing `--`.
        case truncated(part: Int)
        case tooManyParts(limit: Int)

        public var description: String {
            switch self {
            case .badBoundary: return "the boundary parameter is empty, longer than 70 characters or has characters RFC 2046 does not allow"
            case .noOpeningDelimiter: return "the body does not start with a --boundary line"
            case let .badDelimiter(part): return "part \(part): its --boundary line has more after it than a line end"
            case let .badHeader(part): return "part \(part): a header line is not 'Name: value', or the headers are too long"
            case let .truncated(part): return "part \(part): the body ends inside it (a truncated upload?)"
            case let .tooManyParts(limit): return "more than \(limit) parts"
            }
        }
    }

    /// The longest header block of a part, bytes.
    public static let maxHeaderBytes = 16 * 1024

    /// The parts of `body`, in order. Throws on anything malformed; `maxParts` bounds the work a
    /// body of many empty parts can ask for.
    public static func parse(_ body: [UInt8], boundary: String, maxParts: Int = 1024) throws -> [Part] {
        guard isValidBoundary(boundary) else { throw Failure.badBoundary }
        let dash = Array("--\(boundary)".utf8)
        let delimiter = [13, 10] + dash   // CRLF--boundary: what ends a part's body
        var i: Int
        // A preamble may come before the first delimiter, which then follows a line end.
        if body.starts(with: dash) {
            i = dash.count
        } else if let p = find(delimiter, in: body, from: 0) {
            i = p + delimiter.count
        } else {
            throw Failure.noOpeningDelimiter
        }
        var parts: [Part] = []
        while true {
            let number = parts.count + 1
            if hasPrefix(body, i, [45, 45]) { return parts }            // "--": the close delimiter
            while i < body.count, body[i] == 32 || body[i] == 9 { i += 1 }  // transport padding
            guard i < body.count else { throw Failure.truncated(part: number) }
            guard hasPrefix(body, i, [13, 10]) else { throw Failure.badDelimiter(part: number) }
            i += 2
            guard parts.count < maxParts else { throw Failure.tooManyParts(limit: maxParts) }
            // The header block: lines up to an empty one.
            var headers: [Header] = []
            let headerStart = i
            while true {
                guard let end = find([13, 10], in: body, from: i) else { throw Failure.truncated(part: number) }
                guard end - headerStart <= maxHeaderBytes else { throw Failure.badHeader(part: number) }
                if end == i { i += 2; break }
                headers.append(try header(body[i..<end], part: number))
                i = end + 2
            }
            guard let end = find(delimiter, in: body, from: i) else { throw Failure.truncated(part: number) }
            parts.append(Part(headers: headers, body: Array(body[i..<end])))
            i = end + delimiter.count
        }
    }

    /// RFC 2046's boundary: 1 to 70 of `bchars`, not ending in a space.
    public static func isValidBoundary(_ b: String) -> Bool {
        let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ".utf8)
        let bytes = Array(b.utf8)
        return (1...70).contains(bytes.count) && bytes.allSatisfy(allowed.contains) && bytes.last != 32
    }

    /// `value; key=val; key2="quoted; val"`: the value (lowercased) and the parameters (keys
    /// lowercased, quotes and backslash escapes removed). Used for Content-Type and
    /// Content-Disposition.
    public static func parameters(_ header: String) -> (value: String, parameters: [String: String]) {
        var items: [String] = []
        var current = "", quoted = false, escaped = false
        for c in header {
            if escaped { current.append(c); escaped = false; continue }
            if quoted && c == "\\" { escaped = true; continue }
            if c == "\"" { quoted.toggle(); current.append(c); continue }
            if c == ";" && !quoted { items.append(current); current = ""; continue }
            current.append(c)
        }
        items.append(current)
        var parameters: [String: String] = [:]
        for item in items.dropFirst() {
            guard let eq = item.firstIndex(of: "=") else { continue }
            let key = item[..<eq].trimmingWhitespace.lowercased()
            var value = item[item.index(after: eq)...].trimmingWhitespace
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            if !key.isEmpty, parameters[key] == nil { parameters[key] = value }
        }
        return (items[0].trimmingWhitespace.lowercased(), parameters)
    }

    /// `Name: value`; the name a token (RFC 9110), the value any bytes but controls other than tab.
    private static func header(_ line: ArraySlice<UInt8>, part: Int) throws -> Header {
        guard let colon = line.firstIndex(of: 58), colon > line.startIndex else { throw Failure.badHeader(part: part) }
        let name = line[line.startIndex..<colon]
        guard name.allSatisfy(isTokenByte) else { throw Failure.badHeader(part: part) }
        let value = line[(colon + 1)...]
        guard value.allSatisfy({ $0 == 9 || ($0 >= 32 && $0 != 127) }) else { throw Failure.badHeader(part: part) }
        return Header(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self).trimmingWhitespace)
    }

    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 48...57, 65...90, 97...122: return true
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: return true   // !#$%&'*+-.^_`|~
        default: return false
        }
    }

    private static func hasPrefix(_ hay: [UInt8], _ at: Int, _ needle: [UInt8]) -> Bool {
        guard at >= 0, at + needle.count <= hay.count else { return false }
        for k in 0..<needle.count where hay[at + k] != needle[k] { return false }
        return true
    }

    /// The first index at or after `from` where `needle` (not empty) starts in `hay`.
    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard !needle.isEmpty, from >= 0, hay.count >= needle.count else { return nil }
        let first = needle[0], last = hay.count - needle.count
        var i = from
        while i <= last {
            if hay[i] == first && hasPrefix(hay, i, needle) { return i }
            i += 1
        }
        return nil
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmingWhitespace: String {
        let s = drop { $0 == " " || $0 == "\t" }
        var end = s.endIndex
        while end > s.startIndex, s[s.index(before: end)] == " " || s[s.index(before: end)] == "\t" { end = s.index(before: end) }
        return String(s[s.startIndex..<end])
    }
}
