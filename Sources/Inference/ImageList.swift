import Foundation
import Imaging

/// Finding images in a folder the way users expect: jpg, jpeg and png in any case, hidden
/// files and folders ignored, sorted by name (code point order, as Python sorts). Symbolic
/// links are followed, but no real folder is read twice (see `FolderWalk`).
public enum ImageList {
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    public static func isImageName(_ name: String) -> Bool {
        extensions.contains((name as NSString).pathExtension.lowercased())
    }

    public typealias Skipped = FolderWalk.Skipped

    /// What a scan found: the images, the files left out and why, and one warning per link
    /// that was not followed because it leads to a folder read already.
    public struct Listing {
        public var images: [String]
        public var skipped: [Skipped]
        public var loops: [String]
        /// Everything to warn about, loops first, and how many files were left out last.
        public var warnings: [String] { loops + skipped.map(\.description) + [Skipped.summary(skipped)].compactMap { $0 } }
    }

    public enum Failure: Error, CustomStringConvertible {
        case isAFile(String)
        case noSuchFolder(String)
        case unusable(String, why: String)
        public var description: String {
            switch self {
            case .isAFile(let p): return "\(TerminalText.escaped(p)) is a file, not a folder; pass the folder that holds the images"
            case .noSuchFolder(let p): return "\(TerminalText.escaped(p)): no such folder"
            case let .unusable(p, why): return "\(TerminalText.escaped(p)): \(why)"
            }
        }
    }

    /// Fails unless `path` is a folder, saying what it is instead (a file, nothing, a loop).
    public static func checkFolder(_ path: String) throws {
        switch PathTarget(path) {
        case .folder: return
        case .file: throw Failure.isAFile(path)
        case .missing: throw Failure.noSuchFolder(path)
        case .unusable(let why): throw Failure.unusable(path, why: why)
        }
    }

    /// Images under `dir` (sorted by path) and the other files found (skipped; callers warn).
    /// `probe`: also read each image's header and skip those that cannot be images (empty,
    /// not JPEG or PNG inside, damaged header), as training does before it counts them.
    public static func scan(_ dir: String, recursive: Bool, probe: Bool = false, walk: FolderWalk = FolderWalk()) throws -> Listing {
        try checkFolder(dir)
        let loopsBefore = walk.loops.count
        let (images, skipped) = try walk.files(in: dir, recursive: recursive) { path, name, size in
            guard isImageName(name) else { return ("not a .jpg, .jpeg or .png file", .notImageName) }
            return probe ? ImageProbe.problem(path: path, size: size).map { ($0, $0.hasPrefix(ImageProbe.cannotOpen) ? .unreadable : .notImage) } : nil
        }
        return Listing(images: images, skipped: skipped, loops: Array(walk.loops[loopsBefore...]))
    }
}
