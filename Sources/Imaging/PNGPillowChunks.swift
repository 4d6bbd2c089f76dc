/// What Pillow's `PngImagePlugin` makes of the ancillary chunks it reads itself, chunk by
/// chunk: where it finds the Exif block (the last eXIf chunk, or a tEXt chunk keyed
/// "exif", is info["exif"]; failing that, `Image.getexif()` decodes the hex dump of
/// ImageMagick's "Raw profile type exif" text from tEXt, zTXt or iTXt), and the chunks
/// that make it refuse the file (an iCCP or zTXt chunk with an unknown compression method,
/// or compressed text or profile inflating past MAX_TEXT_CHUNK).
struct PNGPillowChunks {
    private var direct: [UInt8]?
    private var rawProfile: [UInt8]?
    /// info["XML:com.adobe.xmp"] (the last tEXt, zTXt or valid-UTF-8 iTXt so keyed) and
    /// info["xmp"] (the last iTXt so keyed, kept even when its text is not UTF-8).
    private var xmpText: [UInt8]?
    private var xmpITXt: [UInt8]?
    /// Why Pillow refuses the file while reading these chunks, if it does.
    private(set) var refusal: String?

    /// Pillow's MAX_TEXT_CHUNK: compressed text or an ICC profile inflating to more is refused.
    static let maxTextChunk = 1 << 20

    mutating func observe(_ type: String, _ data: ArraySlice<UInt8>) {
        let d = Array(data)
        switch type {
        case "eXIf":
            direct = Array("Exif".utf8) + [0, 0] + d
        case "tEXt":
            let (key, value) = split(d)
            if key == Array("exif".utf8) { direct = value }
            if key == rawKey { rawProfile = value }
            if key == xmpKey { xmpText = value }
        case "iCCP":
            let nul = d.firstIndex(of: 0) ?? -1
            guard nul + 1 < d.count, nul + 1 >= 0 else { return refuse("an iCCP chunk without a compression method") }
            guard d[nul + 1] == 0 else { return refuse("unknown compression method \(d[nul + 1]) in the iCCP chunk") }
            _ = inflate(Array(d[(nul + 2)...]))
        case "zTXt":
            let (key, value) = split(d)
            let method = value.first ?? 0
            guard method == 0 else { return refuse("unknown compression method \(method) in a zTXt chunk") }
            let text = inflate(Array(value.dropFirst()))
            if key == rawKey { rawProfile = text ?? [] }
            if key == xmpKey { xmpText = text ?? [] }
        case "iTXt":
            guard let nul = d.firstIndex(of: 0), d.count - nul - 1 >= 2 else { return }
            let key = Array(d[..<nul])
            let flag = d[nul + 1], method = d[nul + 2]
            let rest = d[(nul + 3)...]
            guard let langEnd = rest.firstIndex(of: 0) else { return }
            let afterLang = rest[(langEnd + 1)...]
            guard let keyEnd = afterLang.firstIndex(of: 0) else { return }
            var text = Array(afterLang[(keyEnd + 1)...])
            if flag != 0 {
                guard method == 0, let inflated = inflate(text) else { return }
                text = inflated
            }
            if key == xmpKey { xmpITXt = text }
            // Pillow keeps the text only when language, keyword and text are valid UTF-8.
            guard String(validating: Array(rest[..<langEnd]), as: UTF8.self) != nil,
                  String(validating: Array(afterLang[..<keyEnd]), as: UTF8.self) != nil,
                  String(validating: text, as: UTF8.self) != nil else { return }
            if key == rawKey { rawProfile = text }
            if key == xmpKey { xmpText = text }
        default:
            break
        }
    }

    private mutating func refuse(_ why: String) {
        if refusal == nil { refusal = why }
    }

    private var rawKey: [UInt8] { Array("Raw profile type exif".utf8) }
    private var xmpKey: [UInt8] { Array("XML:com.adobe.xmp".utf8) }

    /// The XMP packet `Image.getexif()` searches: the text one unless it is empty.
    var xmp: [UInt8]? {
        if let xmpText, !xmpText.isEmpty { return xmpText }
        return xmpITXt
    }

    /// The keyword and the text of a tEXt or zTXt chunk (all of it is the keyword when no NUL).
    private func split(_ d: [UInt8]) -> ([UInt8], [UInt8]) {
        guard let nul = d.firstIndex(of: 0) else { return (d, []) }
        return (Array(d[..<nul]), Array(d[(nul + 1)...]))
    }

    /// zlib data inflated; nil when it is damaged (zlib.error: Pillow reads an empty text).
    /// Data that inflates past MAX_TEXT_CHUNK makes Pillow refuse the file.
    private mutating func inflate(_ data: [UInt8]) -> [UInt8]? {
        do {
            return try Zlib.inflate(data, limit: Self.maxTextChunk)
        } catch ZlibError.tooLong {
            refuse("a compressed chunk inflates to more than \(Self.maxTextChunk) bytes")
            return nil
        } catch {
            return nil
        }
    }

    /// The Exif block Pillow reads: info["exif"], else the hex-decoded raw profile;
    /// `.unreadable` when the raw profile is not hex (then `getexif()` raises).
    enum ExifBlock: Equatable { case none, block([UInt8]), unreadable }

    var exif: ExifBlock {
        if let direct { return .block(direct) }
        guard let rawProfile else { return .none }
        // "".join(text.split("\n")[3:]): everything after the third newline
        var newlines = 0
        var start = rawProfile.endIndex
        for (i, b) in rawProfile.enumerated() where b == 0x0A {
            newlines += 1
            if newlines == 3 { start = i + 1; break }
        }
        let hex = rawProfile[start...].filter { $0 != 0x0A }
        return Self.fromHex(hex).map { .block($0) } ?? .unreadable
    }

    /// Python's bytes.fromhex: pairs of hex digits, ASCII whitespace allowed between pairs;
    /// nil where Python raises ValueError.
    static func fromHex(_ text: [UInt8]) -> [UInt8]? {
        func digit(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x37
            case 0x61...0x66: return c - 0x57
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(text.count / 2)
        var i = 0
        while i < text.count {
            if [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D].contains(text[i]) { i += 1; continue }
            guard i + 1 < text.count, let hi = digit(text[i]), let lo = digit(text[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
