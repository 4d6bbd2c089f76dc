import Foundation
import Imaging

/// A real folder, whatever path or symbolic link leads to it: its device and inode.
public struct FolderIdentity: Hashable, Sendable {
    public let device: UInt64
    public let inode: UInt64
}

/// What a path leads to once symbolic links are followed, or why it leads nowhere usable.
public enum PathTarget: Equatable {
    case folder(FolderIdentity)
    case file(size: Int)
    case missing
    /// Plain words: why the path cannot be read ("a loop of symbolic links").
    case unusable(String)

    /// `path` may hold bytes that are not UTF-8 (see `PathBytes`).
    public init(_ path: String) {
        var st = stat()
        guard PathBytes.withCString(path, { stat($0, &st) }) == 0 else {
            let code = errno
            var link = stat()
            let isLink = PathBytes.withCString(path, { lstat($0, &link) }) == 0 && (link.st_mode & S_IFMT) == S_IFLNK
            switch code {
            case ELOOP: self = .unusable("a loop of symbolic links (the link leads back to itself)")
            case ENOENT where isLink:
                let target = FolderWalk.linkTarget(path).map(TerminalText.escaped) ?? "?"
                self = .unusable("a symbolic link to \(target), which does not exist")
            case ENOENT, ENOTDIR: self = .missing
            default: self = .unusable("cannot read it: " + String(cString: strerror(code)).lowercased())
            }
            return
        }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: self = .folder(FolderIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)))
        case S_IFREG: self = .file(size: Int(st.st_size))
        default: self = .unusable("not a regular file")
        }
    }
}

/// Walks folders the way users expect: symbolic links are followed, but each real folder
/// (device and inode) is entered once only. A link back to a parent, or into a folder that
/// was already read or reserved (another class's folder), is not followed: it is reported
/// once, in `loops`, so an image is found once and under its own folder only.
public final class FolderWalk {
    public struct Skipped: Equatable, Sendable, CustomStringConvertible {
        public let path: String
        /// Plain words: why the file is not used.
        public let reason: String
        public let kind: Kind
        /// Why, in one word for the count at the end of a scan.
        public enum Kind: Sendable, CaseIterable {
            case notImageName, notImage, unreadable, otherClass, outsideClasses
            var words: String {
                switch self {
                case .notImageName: return "not .jpg, .jpeg or .png"
                case .notImage: return "not usable images inside"
                case .unreadable: return "unreadable"
                case .otherClass: return "links into another class"
                case .outsideClasses: return "not in a class folder"
                }
            }
        }
        public init(path: String, reason: String, kind: Kind = .unreadable) {
            self.path = path; self.reason = reason; self.kind = kind
        }
        public var description: String { "skipping \(TerminalText.escaped(path)): \(reason)" }

        /// The closing line of a scan's warnings: how many files were left out and why
        /// ("3 files left out: 2 not .jpg, .jpeg or .png, 1 unreadable"); nil when none was.
        public static func summary(_ skipped: [Skipped]) -> String? {
            guard !skipped.isEmpty else { return nil }
            let parts = Kind.allCases.compactMap { kind -> String? in
                let n = skipped.filter { $0.kind == kind }.count
                return n == 0 ? nil : "\(n) \(kind.words)"
            }
            return "\(skipped.count) file\(skipped.count == 1 ? "" : "s") left out: " + parts.joined(separator: ", ")
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case cannotList(path: String, reason: String)
        public var description: String {
            switch self {
            case let .cannotList(path, reason): return "\(TerminalText.escaped(path)): cannot list the folder: \(reason)"
            }
        }
    }

    /// Folders already read or reserved, with the words that name them in a warning.
    private var seen: [FolderIdentity: String] = [:]
    /// One warning per link that was not followed.
    public private(set) var loops: [String] = []
    /// Every real folder inside a class folder (reached without following links), with that
    /// class folder: a link from elsewhere into one of them is not followed, so an image is
    /// never read under another class's label or in the other split.
    private var claims: [FolderIdentity: String] = [:]

    public init() {}

    /// Marks the folder `path` as read, named `name` in warnings. Returns the name it was
    /// already given when it was reserved before (the same real folder), else nil.
    @discardableResult
    public func reserve(_ path: String, as name: String? = nil) -> String? {
        guard case .folder(let id) = PathTarget(path) else { return nil }
        if let first = seen[id] { return first }
        seen[id] = name ?? path
        return nil
    }

    /// Claims `folder` and every real folder below it (links are not followed) for `folder`.
    /// Call it for every class folder, of train and val, before any of them is scanned.
    public func claimTree(_ folder: String) {
        var pending = [folder]
        while let next = pending.popLast() {
            // The class folder itself may be a link (it is read through it); below it, only
            // real folders are queued.
            guard case .folder(let id) = PathTarget(next), claims[id] == nil else { continue }
            claims[id] = folder
            for name in (try? FolderWalk.names(in: next)) ?? [] {
                let path = FolderWalk.join(next, name)
                var child = stat()
                if PathBytes.withCString(path, { lstat($0, &child) }) == 0, child.st_mode & S_IFMT == S_IFDIR { pending.append(path) }
            }
        }
    }

    /// The class folder that claimed the real folder holding `path` (a file reached through a
    /// link), when that is not `owner`.
    private func claimedElsewhere(file path: String, owner: String) -> String? {
        var link = stat()
        guard PathBytes.withCString(path, { lstat($0, &link) }) == 0, link.st_mode & S_IFMT == S_IFLNK,
              let real = PathBytes.withCString(path, { realpath($0, nil) }) else { return nil }
        defer { free(real) }
        let parent = (PathBytes.string(cString: real) as NSString).deletingLastPathComponent
        guard case .folder(let id) = PathTarget(parent), let claimer = claims[id], claimer != owner else { return nil }
        return claimer
    }

    /// Where the symbolic link `path` leads (its text, unresolved); nil when it is no link.
    static func linkTarget(_ path: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = PathBytes.withCString(path) { p in buffer.withUnsafeMutableBytes { readlink(p, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count - 1) } }
        return n < 0 ? nil : PathBytes.string(buffer[0..<n])
    }

    /// The names in `folder`, hidden ones left out, in code point order. Names are the file
    /// system's bytes: those that are not UTF-8 come as `PathBytes` strings (never dropped).
    public static func names(in folder: String) throws -> [String] {
        guard let dir = PathBytes.withCString(folder, { opendir($0) }) else {
            throw Failure.cannotList(path: folder, reason: String(cString: strerror(errno)).lowercased())
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) { PathBytes.string(cString: $0) }
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted(by: PythonFormat.codePointLess)
    }

    /// The subfolders of `folder` (following links), and the entries that lead nowhere.
    public func subfolders(of folder: String) throws -> (folders: [String], broken: [Skipped]) {
        var folders: [String] = [], broken: [Skipped] = []
        for name in try FolderWalk.names(in: folder) {
            let path = FolderWalk.join(folder, name)
            switch PathTarget(path) {
            case .folder: folders.append(path)
            case .unusable(let why): broken.append(Skipped(path: path, reason: why, kind: .unreadable))
            case .file, .missing: continue
            }
        }
        return (folders, broken)
    }

    /// The files under `folder` (in subfolders too when `recursive`), each passed to `keep`:
    /// nil keeps it, a reason skips it. Files come in sorted order of their paths.
    public func files(in folder: String, recursive: Bool, keep: (String, String, Int) -> (String, Skipped.Kind)?) throws -> (files: [String], skipped: [Skipped]) {
        var files: [String] = [], skipped: [Skipped] = []
        let root = folder
        func visit(_ folder: String) throws {
            for name in try FolderWalk.names(in: folder) {
                let path = FolderWalk.join(folder, name)
                switch PathTarget(path) {
                case .folder(let id):
                    guard recursive else { continue }
                    if let first = seen[id] {
                        loops.append("not following \(TerminalText.escaped(path)): it leads to \(TerminalText.escaped(first)), a folder read once already"
                                     + " (a loop of symbolic links, or a second way into the same folder)")
                        continue
                    }
                    if let claimer = claims[id], claimer != root {
                        loops.append("not following \(TerminalText.escaped(path)): it leads into \(TerminalText.escaped(claimer)), the folder of another class or split")
                        continue
                    }
                    seen[id] = path
                    try visit(path)
                case .file(let size):
                    if let claimer = claimedElsewhere(file: path, owner: root) {
                        skipped.append(Skipped(path: path, reason: "a link to an image in \(TerminalText.escaped(claimer)), the folder of another class or split",
                                               kind: .otherClass))
                    } else if let (why, kind) = keep(path, name, size) { skipped.append(Skipped(path: path, reason: why, kind: kind)) } else { files.append(path) }
                case .unusable(let why): skipped.append(Skipped(path: path, reason: why, kind: .unreadable))
                case .missing: continue   // removed while we read the folder
                }
            }
        }
        reserve(folder)
        try visit(folder)
        return (files.sorted(by: PythonFormat.codePointLess), skipped)
    }

    public static func join(_ folder: String, _ name: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }
}
