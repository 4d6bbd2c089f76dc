import Random
import Imaging
import Foundation
import Inference

/// A dataset laid out as torchvision's ImageFolder expects: `root/train/<class>/*.jpg` with
/// `root/val/` (or `valid/`, `validation/`) beside it, or one folder of class folders that
/// `--val-split` divides. Class order is the sorted folder names (code points, as Python
/// sorts); hidden files and folders are ignored. Symbolic links are followed, but no real folder
/// is read twice and no link leads into another class's folder (see `FolderWalk`); files that
/// cannot be images are left out before they are counted (see `ImageProbe`).
public struct ImageFolder: Sendable {
    public struct Sample: Sendable, Equatable {
        public let path: String
        public let label: Int
    }

    public let classes: [String]
    public let train: [Sample]
    public let val: [Sample]
    /// Where the validation images came from: a folder, or a split of the training folder.
    public let valSource: String
    /// Files left out, and why: not JPEG or PNG by name, empty, not an image inside, a
    /// damaged header, a broken link (callers warn about them).
    public let skipped: [ImageList.Skipped]
    /// One warning per symbolic link that was not followed (it leads to a folder read already).
    public let loops: [String]

    /// Everything to warn about, once each, and last how many files were left out and why.
    public var warnings: [String] { loops + skipped.map(\.description) + [ImageList.Skipped.summary(skipped)].compactMap { $0 } }

    public enum Failure: Error, CustomStringConvertible {
        case noClasses(String)
        case emptyClass(folder: String, classes: [String])
        /// Every training image of a class failed to decode during training.
        case noReadableImages(className: String, classes: [String])
        case classMismatch(train: [String], val: [String])
        case classCount(expected: Int, found: [String])
        case badSplit(Double)
        case noSplit(String)
        case tooFewToSplit(folder: String, images: Int)
        case sameFolder(String, String)

        public var description: String {
            // Names go to a terminal: control characters and bytes that are not UTF-8 shown escaped.
            let t = TerminalText.escaped
            func list(_ names: [String]) -> String { names.map(t).joined(separator: ", ") }
            switch self {
            case .noClasses(let p0):
                let p = t(p0)
                return "\(p): no class folders. Expected \(p)/train/<class>/*.jpg (and val/ beside train/), or \(p)/<class>/*.jpg with --val-split."
            case let .emptyClass(folder, classes):
                return "\(t(folder)) holds no usable JPEG or PNG images. Classes: \(list(classes)). Remove the folder or add images."
            case let .noReadableImages(name, classes):
                return "class '\(t(name))' (every training image is unreadable) holds no usable JPEG or PNG images. Classes: \(list(classes)). Remove the folder or add images."
            case let .classMismatch(train, val):
                let onlyTrain = train.filter { !val.contains($0) }, onlyVal = val.filter { !train.contains($0) }
                var parts: [String] = []
                if !onlyTrain.isEmpty { parts.append("only in train: " + list(onlyTrain)) }
                if !onlyVal.isEmpty { parts.append("only in val: " + list(onlyVal)) }
                return "train and val have different classes (\(parts.joined(separator: "; "))). "
                    + "train: \(list(train)); val: \(list(val)). Give both the same class folders."
            case let .classCount(expected, found):
                return "--classes \(expected), but the data has \(found.count) classes: \(list(found)). Pass --classes \(found.count)."
            case .badSplit(let f): return "--val-split must be more than 0 and less than 1 (got \(f))"
            case .noSplit(let p0):
                let p = t(p0)
                return "\(p) has no val/ folder and --val-split is 0, so nothing would be validated and no model chosen. Pass --val-split (e.g. 0.1) or add \(p)/val/<class>/."
            case let .tooFewToSplit(folder, n):
                return "\(t(folder)) has \(n) usable image\(n == 1 ? "" : "s"): --val-split needs at least 2 in every class, one to train on and one to validate. "
                    + "Add images to it, or give the data a train/ and val/ folder."
            case let .sameFolder(a, b):
                return "\(t(a)) and \(t(b)) are the same folder (a symbolic link): every class folder, in train/ and val/, must be a folder of its own."
            }
        }
    }

    static let valNames = ["val", "valid", "validation"]

    public init(root: String, valSplit: Double = 0.1, seed: UInt64 = 0) throws {
        try ImageList.checkFolder(root)
        let walk = FolderWalk()
        walk.reserve(root)
        let trainDir = FolderWalk.join(root, "train")
        if case .folder = PathTarget(trainDir) {
            walk.reserve(trainDir)
            let valDir = ImageFolder.valNames.map { FolderWalk.join(root, $0) }.first { if case .folder = PathTarget($0) { return true } else { return false } }
            if let v = valDir, let first = walk.reserve(v) { throw Failure.sameFolder(v, first) }
            let trainClasses = try ImageFolder.classFolders(trainDir, walk: walk)
            let valClasses = try valDir.map { try ImageFolder.classFolders($0, walk: walk) }
            var scan = Scan()
            let trainFiles = try scan.images(trainDir, classes: trainClasses, walk: walk)
            guard let valDir, let valClasses else {
                try self.init(classes: trainClasses.names, files: trainFiles, split: valSplit, seed: seed, scan: scan, source: trainDir)
                return
            }
            guard valClasses.names == trainClasses.names else { throw Failure.classMismatch(train: trainClasses.names, val: valClasses.names) }
            let valFiles = try scan.images(valDir, classes: valClasses, walk: walk)
            self.init(classes: trainClasses.names, train: ImageFolder.samples(trainFiles), val: ImageFolder.samples(valFiles),
                      valSource: valDir, scan: scan)
        } else {
            let classes = try ImageFolder.classFolders(root, walk: walk)
            var scan = Scan()
            let files = try scan.images(root, classes: classes, walk: walk)
            try self.init(classes: classes.names, files: files, split: valSplit, seed: seed, scan: scan, source: root)
        }
    }

    /// Per class: sorted names, a seeded shuffle, the first floor(n * split) to val (as the
    /// tutorial's split_data.py counts), but at least one, and never all of them.
    private init(classes: [String], files: [[String]], split: Double, seed: UInt64, scan: Scan, source: String) throws {
        guard split >= 0, split < 1 else { throw Failure.badSplit(split) }
        guard split > 0 else { throw Failure.noSplit(source) }
        var train: [Sample] = [], val: [Sample] = [], raised = false
        for (label, paths) in files.enumerated() {
            let folder = FolderWalk.join(source, classes[label])
            guard paths.count >= 2 else { throw Failure.tooFewToSplit(folder: folder, images: paths.count) }
            var rng = SeededRandom(seed: seed, stream: 0x5EED, UInt64(label))
            let order = paths.shuffled(using: &rng)
            let floor = Int(Double(paths.count) * split)
            let nVal = min(paths.count - 1, max(1, floor))
            raised = raised || nVal != floor
            let valSet = Set(order.prefix(nVal))
            for p in paths {
                if valSet.contains(p) { val.append(Sample(path: p, label: label)) } else { train.append(Sample(path: p, label: label)) }
            }
        }
        let percent = (split * 100).rounded() == split * 100 ? "\(Int(split * 100))%" : String(format: "%g%%", split * 100)
        self.init(classes: classes, train: train, val: val,
                  valSource: "\(percent) of each class\(raised ? " (at least 1)" : "") of \(source) (seeded split)", scan: scan)
    }

    private init(classes: [String], train: [Sample], val: [Sample], valSource: String, scan: Scan) {
        self.classes = classes
        self.train = train
        self.val = val
        self.valSource = valSource
        self.skipped = scan.skipped
        self.loops = scan.loops
    }

    /// Fails unless the data has exactly `n` classes.
    public func check(classCount n: Int) throws {
        if n != classes.count { throw Failure.classCount(expected: n, found: classes) }
    }

    private static func samples(_ files: [[String]]) -> [Sample] {
        files.enumerated().flatMap { label, paths in paths.map { Sample(path: $0, label: label) } }
    }

    /// The class folders of `dir`: names sorted, each folder reserved in `walk` so that no
    /// link from another class leads into it (an image keeps its own folder's label).
    static func classFolders(_ dir: String, walk: FolderWalk) throws -> (names: [String], broken: [ImageList.Skipped]) {
        let (folders, broken) = try walk.subfolders(of: dir)
        var names: [String] = []
        for path in folders {
            let name = (path as NSString).lastPathComponent
            if let first = walk.reserve(path, as: "\(path) (the folder of class \(name))") { throw Failure.sameFolder(path, first) }
            walk.claimTree(path)
            names.append(name)
        }
        guard !names.isEmpty else { throw Failure.noClasses(dir) }
        return (names, broken)
    }

    /// What the scans found besides images.
    struct Scan {
        var skipped: [ImageList.Skipped] = []
        var loops: [String] = []

        /// Each class's usable images (sorted), the others added to `skipped`.
        mutating func images(_ dir: String, classes: (names: [String], broken: [ImageList.Skipped]), walk: FolderWalk) throws -> [[String]] {
            skipped += classes.broken
            var files: [[String]] = []
            for name in classes.names {
                let listing = try ImageList.scan(FolderWalk.join(dir, name), recursive: true, probe: true, walk: walk)
                skipped += listing.skipped
                loops += listing.loops
                guard !listing.images.isEmpty else { throw Failure.emptyClass(folder: FolderWalk.join(dir, name), classes: classes.names) }
                files.append(listing.images)
            }
            return files
        }
    }
}
