/// A small directory tree written as lines of text: the input of the ImageFolder fuzz target.
/// Text, so that seeds are readable and libFuzzer's mutations still make sense:
///
///     d train/daisy               a folder (parents made as needed)
///     f train/daisy/00.jpg        an empty file
///     l train/daisy/up ../..      a symbolic link: some `..`, then names (`.` alone: itself)
///     v 25                        the validation split, in percent
///     s 7                         the split's seed
///
/// Lines that do not parse are skipped. Names are at most 32 bytes, paths at most 8 deep,
/// and a script at most 64 operations, so one input stays small.
struct FolderScript: Equatable {
    enum Op: Equatable {
        case folder([String])
        case file([String])
        /// A link at `path` to `ups` parent steps followed by `down` names.
        case link([String], ups: Int, down: [String])
    }

    static let maxOps = 64, maxDepth = 8, maxName = 32

    var ops: [Op] = []
    var valPercent = 10
    var seed: UInt64 = 0

    init(_ bytes: [UInt8]) {
        for raw in bytes.split(separator: UInt8(ascii: "\n")) where ops.count < FolderScript.maxOps {
            let line = String(decoding: raw, as: UTF8.self)
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count >= 2 else { continue }
            switch fields[0] {
            case "d": if let p = FolderScript.path(fields[1]) { ops.append(.folder(p)) }
            case "f": if let p = FolderScript.path(fields[1]) { ops.append(.file(p)) }
            case "l":
                guard fields.count >= 3, let p = FolderScript.path(fields[1]),
                      let (ups, down) = FolderScript.target(fields[2]) else { continue }
                ops.append(.link(p, ups: ups, down: down))
            case "v": if let n = Int(fields[1]) { valPercent = min(max(n, -10), 110) }
            case "s": if let n = UInt64(fields[1]) { seed = n }
            default: continue
            }
        }
    }

    /// A path of names (no `.`, `..` or empty parts) of bounded depth, or nil.
    static func path(_ text: String) -> [String]? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard !parts.isEmpty, parts.count <= maxDepth, parts.allSatisfy(isName) else { return nil }
        return parts
    }

    /// A link target: leading `..` steps, then names; `.` parts are dropped.
    static func target(_ text: String) -> (ups: Int, down: [String])? {
        guard !text.hasPrefix("/") else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
        let ups = parts.prefix { $0 == ".." }.count
        let down = Array(parts.dropFirst(ups))
        guard ups <= maxDepth, down.count <= maxDepth, down.allSatisfy(isName) else { return nil }
        return (ups, down)
    }

    static func isName(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".." && s.utf8.count <= maxName && !s.utf8.contains(0)
    }
}
