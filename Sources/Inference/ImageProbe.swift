import Foundation
import Imaging

/// A quick look at an image file before training counts it: not empty, JPEG or PNG by its
/// first bytes, and a header that gives it a size. Reads the header only (the first 64 KiB,
/// the whole file when a JPEG's metadata runs longer), never the pixels, so a file that
/// passes may still fail to decode; the trainer reports those.
public enum ImageProbe {
    static let headBytes = 65536
    /// How a problem that is about opening the file, not its content, begins.
    public static let cannotOpen = "cannot open it: "

    /// Why the file cannot be an image to train on, in plain words; nil when it looks fine.
    public static func problem(path: String, size: Int) -> String? {
        guard size > 0 else { return "an empty file (0 bytes)" }
        // By the path's own bytes (it may not be UTF-8); O_NONBLOCK: a pipe put there since the
        // folder was listed is not waited on.
        let fd = PathBytes.withCString(path) { open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { return cannotOpen + String(cString: strerror(errno)).lowercased() }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var st = stat()
        if fstat(fd, &st) == 0, let what = PathBytes.notRegular(st.st_mode) { return what }
        var bytes = [UInt8](handle.readData(ofLength: headBytes))
        switch ImageFormat.sniff(bytes) {
        case nil:
            return "not a JPEG or PNG file (its first bytes match no image format)"
        case .png?:
            return pngProblem(bytes)
        case .jpeg?:
            var why = jpegProblem(bytes, complete: bytes.count >= size)
            if why == incomplete {
                bytes += [UInt8](handle.readDataToEndOfFile())
                why = jpegProblem(bytes, complete: true)
            }
            return why
        case let other?:
            return "a \(other.rawValue.uppercased()) image; only JPEG and PNG are read (convert it)"
        }
    }

    private static let incomplete = "incomplete"

    static func pngProblem(_ b: [UInt8]) -> String? {
        guard b.count >= 24, Array(b[12..<16]) == Array("IHDR".utf8) else {
            return "a damaged PNG file (no image header)"
        }
        let width = b[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = b[20..<24].reduce(0) { $0 << 8 | Int($1) }
        return width > 0 && height > 0 ? nil : "a damaged PNG file (its header says \(width)x\(height) pixels)"
    }

    /// Walks the JPEG's marker segments to its frame header (SOF). `complete`: `b` is the
    /// whole file; otherwise running out of bytes returns `incomplete`.
    static func jpegProblem(_ b: [UInt8], complete: Bool) -> String? {
        var i = 2
        while true {
            while i < b.count && b[i] != 0xFF { i += 1 }      // junk between segments
            while i < b.count && b[i] == 0xFF { i += 1 }      // fill bytes
            guard i + 2 < b.count else { return complete ? "a truncated JPEG file (it ends before its image header)" : incomplete }
            let marker = b[i]
            i += 1
            if marker == 0x01 || (0xD0...0xD8).contains(marker) { continue }
            if marker == 0xDA || marker == 0xD9 { return "a damaged JPEG file (no frame header before the image data)" }
            let length = Int(b[i]) << 8 | Int(b[i + 1])
            guard length >= 2 else { return "a damaged JPEG file (a header segment of length \(length))" }
            let isFrame = (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker)
            if isFrame {
                guard i + 7 <= b.count else { return complete ? "a truncated JPEG file (it ends inside its image header)" : incomplete }
                let height = Int(b[i + 3]) << 8 | Int(b[i + 4]), width = Int(b[i + 5]) << 8 | Int(b[i + 6])
                return width > 0 && height > 0 ? nil : "a damaged JPEG file (its header says \(width)x\(height) pixels)"
            }
            i += length
            if i > b.count && complete { return "a truncated JPEG file (a header segment runs past its end)" }
        }
    }
}
