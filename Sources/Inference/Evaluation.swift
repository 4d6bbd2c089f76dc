import Foundation
import Imaging

/// A model scored on a labelled folder (`evaluate`): `DIR/<class>/...` as torchvision's
/// ImageFolder lays it out, each folder matched BY NAME to the model's classes
/// (class_indices.json), every image predicted through `Predictor.predict` (the batched,
/// overlapped pipeline and the eval transform of predict and batch_predict).
public struct Evaluation: Sendable {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case noClassFolders(dir: String)
        case unknownClasses(dir: String, unknown: [String], folders: [String], model: [String])
        case noImages(dir: String)
        case nothingPredicted(dir: String, unreadable: Int)
        /// class_indices.json gives one name to several indices: a folder could not say which.
        case duplicateClassNames([(name: String, indices: [Int])])

        public static func == (a: Failure, b: Failure) -> Bool { a.description == b.description }

        public var description: String {
            // Names go to a terminal: control characters and bytes that are not UTF-8 shown escaped.
            let t = TerminalText.escaped
            switch self {
            case let .duplicateClassNames(dups):
                let each = dups.map { "'\(t($0.name))' at indices \($0.indices.map(String.init).joined(separator: ", "))" }
                return "the model's class names (class_indices.json) name "
                    + each.joined(separator: "; ") + (dups.count == 1 ? ": one name for several classes" : ": one name for several classes each")
                    + ", so a class folder cannot say which class it is. Give every index a name of its own in class_indices.json "
                    + "(as finetune writes it), or pass the right file with --class-indices."
            case let .noClassFolders(dir0):
                let dir = t(dir0)
                return "\(dir): no class folders. Expected \(dir)/<class>/*.jpg, one folder per class, named as in class_indices.json."
            case let .unknownClasses(dir0, unknown, folders, model):
                let dir = t(dir0)
                let split = ["val", "validation", "valid", "test", "train"].first { unknown.contains($0) }
                return "\(dir): the model has no class named \(unknown.map { "'\(t($0))'" }.joined(separator: ", ")). "
                    + "Folder classes: \(folders.map(t).joined(separator: ", ")). Model classes: \(model.map(t).joined(separator: ", ")). "
                    + (split.map { "To score one split, pass its folder (\(dir)/\($0)); else r" } ?? "R")
                    + "ename the folders, or pass the class_indices.json written with these weights (--class-indices)."
            case let .noImages(dir):
                return "\(t(dir)): the class folders hold no .jpg, .jpeg or .png images"
            case let .nothingPredicted(dir, unreadable):
                return "\(t(dir)): none of the \(unreadable) images could be read"
            }
        }
    }

    /// The image paths scored, in the order read (sorted by class folder, then path).
    public let images: [String]
    /// Each scored image's class index in the model (`classNames` order).
    public let labels: [Int]
    public let probabilities: [[Float]]
    /// The images that could not be read, with why; they are left out of the figures.
    public let unreadable: [(path: String, reason: String)]
    /// The scan's warnings: files skipped (not images, not in a class folder, links that lead
    /// nowhere or into another class) and class folders with no images.
    public let skipped: [String]
    public let report: ClassificationReport
    /// The test-time augmentation the probabilities were computed with (`--tta`).
    public var tta: TestTimeAugmentation = .none

    /// The class folders of `dir` (sorted; hidden ones ignored) with each one's model index,
    /// or an error naming the folders the model does not know.
    public static func classFolders(_ dir: String, classNames: [String], walk: FolderWalk) throws
        -> (folders: [(path: String, name: String, index: Int)], skipped: [String], left: [FolderWalk.Skipped]) {
        try ImageList.checkFolder(dir)
        let (paths, broken) = try walk.subfolders(of: dir)
        var index: [String: Int] = [:], duplicates: [String: [Int]] = [:]
        for (i, name) in classNames.enumerated() {
            if let first = index[name] { duplicates[name, default: [first]].append(i) } else { index[name] = i }
        }
        guard duplicates.isEmpty else {
            throw Failure.duplicateClassNames(duplicates.sorted { $0.value[0] < $1.value[0] }.map { (name: $0.key, indices: $0.value) })
        }
        guard !paths.isEmpty else { throw Failure.noClassFolders(dir: dir) }
        let names = paths.map { ($0 as NSString).lastPathComponent }
        let unknown = names.filter { index[$0] == nil }
        guard unknown.isEmpty else {
            throw Failure.unknownClasses(dir: dir, unknown: unknown, folders: names, model: classNames)
        }
        let folders = zip(paths, names).map { (path: $0.0, name: $0.1, index: index[$0.1] ?? 0) }
        // Files beside the class folders have no class: ImageFolder ignores them; say so.
        let loose = try FolderWalk.names(in: dir).map { FolderWalk.join(dir, $0) }.filter {
            if case .file = PathTarget($0) { return true } else { return false }
        }
        let outside = loose.map { FolderWalk.Skipped(path: $0, reason: "not in a class folder (\(TerminalText.escaped(dir))/<class>/...)", kind: .outsideClasses) }
        return (folders, (broken + outside).map(\.description), broken + outside)
    }

    /// Scores `predictor` on `dir`. `warn` hears each skipped file and unreadable image as found.
    public static func run(dir: String, predictor: Predictor, batchSize: Int,
                           warn: (String) -> Void = { _ in }) throws -> Evaluation {
        let walk = FolderWalk()
        let (folders, brokenFolders, leftOut) = try classFolders(dir, classNames: predictor.classNames, walk: walk)
        var skipped = brokenFolders, left = leftOut
        // Every class folder is claimed first, so a link from one into another is not followed.
        folders.forEach { walk.claimTree($0.path) }
        var paths: [String] = [], labelOf: [String: Int] = [:]
        for folder in folders {
            let listing = try ImageList.scan(folder.path, recursive: true, walk: walk)
            skipped += listing.loops + listing.skipped.map(\.description)
            left += listing.skipped
            if listing.images.isEmpty {
                skipped.append("\(TerminalText.escaped(folder.path)) holds no .jpg, .jpeg or .png images: class '\(TerminalText.escaped(folder.name))' has support 0")
            }
            for path in listing.images where labelOf[path] == nil {
                paths.append(path)
                labelOf[path] = folder.index
            }
        }
        skipped.forEach(warn)
        if let summary = FolderWalk.Skipped.summary(left) { warn(summary) }
        guard !paths.isEmpty else { throw Failure.noImages(dir: dir) }

        var images: [String] = [], labels: [Int] = [], probs: [[Float]] = []
        var unreadable: [(path: String, reason: String)] = []
        try predictor.predict(paths: paths, batchSize: batchSize) { path, result in
            switch result {
            case .success(let p):
                images.append(path)
                labels.append(labelOf[path] ?? 0)
                probs.append(p.probs)
            case .failure(let e):
                unreadable.append((path, "\(e)"))
                warn("\(e)")
            }
        }
        guard !images.isEmpty else { throw Failure.nothingPredicted(dir: dir, unreadable: unreadable.count) }
        let report = try ClassificationReport(classNames: predictor.classNames, labels: labels, probabilities: probs)
        var evaluation = Evaluation(images: images, labels: labels, probabilities: probs, unreadable: unreadable,
                                    skipped: skipped, report: report)
        evaluation.tta = predictor.tta
        return evaluation
    }

    /// What evaluate prints: counts, accuracy (and top-5), the per-class table (4 digits, as
    /// `classification_report(digits=4)`), and the confusion matrix. With more than 20 classes,
    /// the matrix shows only the classes that are true or predicted at least once. Class names
    /// are shown as `TerminalText.escaped` writes them (the JSON keeps them exact).
    public func text() -> String {
        let names = report.classNames.map(TerminalText.escaped)
        var out = "\(images.count) images scored"
            + (unreadable.isEmpty ? "" : "; \(unreadable.count) unreadable, left out")
            + (tta == .flip ? " (--tta flip: each image's probabilities the mean of its own and its mirror's)" : "") + "\n"
        out += "accuracy: \(String(format: "%.4f", report.accuracy)) (\(images.count - wrong) of \(images.count))\n"
        if let t = report.top5Accuracy { out += "top-5 accuracy: \(String(format: "%.4f", t))\n" }
        out += "\n" + report.text(digits: 4, names: names) + "\n"
        let n = report.classNames.count
        var shown: [Int]? = nil
        if n > 20 {
            let seen = Set(labels).union(report.confusion.indices.filter { p in report.confusion.contains { $0[p] > 0 } })
            shown = seen.sorted()
        }
        out += "confusion matrix (rows: true class, columns: predicted"
            + (shown.map { "; the \($0.count) classes of \(n) that occur" } ?? "") + "):\n"
        out += report.confusionText(only: shown, names: names)
        return out
    }

    private var wrong: Int { zip(labels, probabilities).filter { $0.0 != ClassificationReport.argmax($0.1) }.count }

    /// The report's JSON object, with `dir`-independent extras: `unreadable` (paths).
    public func json() -> String {
        let unread = unreadable.map { PythonFormat.jsonString($0.path, asciiOnly: false) }.joined(separator: ", ")
        return report.json(extra: [("unreadable", "[\(unread)]")] + (tta == .none ? [] : [("tta", "\"\(tta.rawValue)\"")]))
    }
}
