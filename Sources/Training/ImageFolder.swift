import Imaging
import Foundation

/// A dataset laid out as torchvision's ImageFolder expects: `root/train/<class>/*.jpg` with
/// `root/val/` (or `valid/`, `validation/`) beside it, or one folder of class folders that
/// `--val-split` divides. Class order is the sorted folder names (code points, as Python
/// sorts); hidden files and folders are ignored.
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
    /// Files that are not JPEG or PNG by name, skipped (callers warn about them).
    public let skipped: [String]

    public enum Failure: Error, CustomStringConvertible {
        case notAFolder(String)
        case noClasses(String)
        case emptyClass(folder: String, classes: [String])
        case classMismatch(train: [String], val: [String])
        case classCount(expected: Int, found: [String])
        case badSplit(Double)

        public var description: String {
            switch self {
            case .notAFolder(let p): return "\(p): no such folder"
            case .noClasses(let p):
                return "\(p): no class folders. Expected \(p)/train/<class>/*.jpg (and val/ beside train/), or \(p)/<class>/*.jpg with --val-split."
            case let .emptyClass(folder, classes):
                return "\(folder) holds no JPEG or PNG images. Classes: \(classes.joined(separator: ", ")). Remove the folder or add images."
            case let .classMismatch(train, val):
                let onlyTrain = train.filter { !val.contains($0) }, onlyVal = val.filter { !train.contains($0) }
                return "train and val have different classes (only in train: \(onlyTrain.joined(separator: ", ")); only in val: \(onlyVal.joined(separator: ", "))). "
                    + "train: \(train.joined(separator: ", ")); val: \(val.joined(separator: ", "))."
            case let .classCount(expected, found):
                return "--classes \(expected), but the data has \(found.count) classes: \(found.joined(separator: ", ")). Pass --classes \(found.count)."
            case .badSplit(let f): return "--val-split must be between 0 and 1 (got \(f))"
            }
        }
    }

    static let valNames = ["val", "valid", "validation"]

    public init(root: String, valSplit: Double = 0.1, seed: UInt64 = 0) throws {
        guard ImageFolder.isDirectory(root) else { throw Failure.notAFolder(root) }
        let trainDir = root + "/train"
        var skipped: [String] = []
        if ImageFolder.isDirectory(trainDir) {
            let (classes, trainFiles) = try ImageFolder.scanClasses(trainDir, skipped: &skipped)
            guard let valDir = ImageFolder.valNames.map({ root + "/" + $0 }).first(where: ImageFolder.isDirectory) else {
                try self.init(classes: classes, files: trainFiles, split: valSplit, seed: seed, skipped: skipped, source: trainDir)
                return
            }
            let (valClasses, valFiles) = try ImageFolder.scanClasses(valDir, skipped: &skipped)
            guard valClasses == classes else { throw Failure.classMismatch(train: classes, val: valClasses) }
            self.init(classes: classes, train: ImageFolder.samples(trainFiles), val: ImageFolder.samples(valFiles),
                      valSource: valDir, skipped: skipped)
        } else {
            let (classes, files) = try ImageFolder.scanClasses(root, skipped: &skipped)
            try self.init(classes: classes, files: files, split: valSplit, seed: seed, skipped: skipped, source: root)
        }
    }

    /// Per class: sorted names, a seeded shuffle, the first floor(n * split) to val.
    private init(classes: [String], files: [[String]], split: Double, seed: UInt64, skipped: [String], source: String) throws {
        guard split >= 0, split < 1 else { throw Failure.badSplit(split) }
        var train: [Sample] = [], val: [Sample] = []
        for (label, paths) in files.enumerated() {
            var rng = SeededRandom(seed: seed, stream: 0x5EED, UInt64(label))
            let order = paths.shuffled(using: &rng)
            let nVal = Int(Double(paths.count) * split)
            let valSet = Set(order.prefix(nVal))
            for p in paths {
                if valSet.contains(p) { val.append(Sample(path: p, label: label)) } else { train.append(Sample(path: p, label: label)) }
            }
        }
        self.init(classes: classes, train: train, val: val,
                  valSource: "\(Int(split * 100))% of each class of \(source) (seeded split)", skipped: skipped)
    }

    private init(classes: [String], train: [Sample], val: [Sample], valSource: String, skipped: [String]) {
        self.classes = classes
        self.train = train
        self.val = val
        self.valSource = valSource
        self.skipped = skipped
    }

    /// Fails unless the data has exactly `n` classes.
    public func check(classCount n: Int) throws {
        if n != classes.count { throw Failure.classCount(expected: n, found: classes) }
    }

    private static func samples(_ files: [[String]]) -> [Sample] {
        files.enumerated().flatMap { label, paths in paths.map { Sample(path: $0, label: label) } }
    }

    static func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }

    /// Class folders of `dir` (sorted) and each one's images, recursively, sorted.
    static func scanClasses(_ dir: String, skipped: inout [String]) throws -> ([String], [[String]]) {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { !$0.hasPrefix(".") && isDirectory(dir + "/" + $0) }
            .sorted(by: PythonFormat.codePointLess)
        guard !names.isEmpty else { throw Failure.noClasses(dir) }
        var files: [[String]] = []
        for name in names {
            let (images, other) = try ImageList.scan(dir + "/" + name, recursive: true)
            skipped += other
            guard !images.isEmpty else { throw Failure.emptyClass(folder: dir + "/" + name, classes: names) }
            files.append(images)
        }
        return (names, files)
    }
}
