import Foundation

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

        public var description: String {
            switch self {
            case let .noClassFolders(dir):
                return "\(dir): no class folders. Expected \(dir)/<class>/*.jpg, one folder per class, named as in class_indices.json."
            case let .unknownClasses(dir, unknown, folders, model):
                let split = ["val", "validation", "valid", "test", "train"].first { unknown.contains($0) }
                return "\(dir): the model has no class named \(unknown.map { "'\($0)'" }.joined(separator: ", ")). "
                    + "Folder classes: \(folders.joined(separator: ", ")). Model classes: \(model.joined(separator: ", ")). "
                    + (split.map { "To score one split, pass its folder (\(dir)/\($0)); else r" } ?? "R")
                    + "ename the folders, or pass the class_indices.json written with these weights (--class-indices)."
            case let .noImages(dir):
                return "\(dir): the class folders hold no .jpg, .jpeg or .png images"
            case let .nothingPredicted(dir, unreadable):
                return "\(dir): none of the \(unreadable) images could be read"
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

    /// The class folders of `dir` (sorted; hidden ones ignored) with each one's model index,
    /// or an error naming the folders the model does not know.
    public static func classFolders(_ dir: String, classNames: [String], walk: FolderWalk) throws
        -> (folders: [(path: String, name: String, index: Int)], skipped: [String]) {
        try ImageList.checkFolder(dir)
        let (paths, broken) = try walk.subfolders(of: dir)
        guard !paths.isEmpty else { throw Failure.noClassFolders(dir: dir) }
        var index: [String: Int] = [:]
        for (i, name) in classNames.enumerated() where index[name] == nil { index[name] = i }
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
        return (folders, broken.map(\.description) + loose.map { "skipping \($0): not in a class folder (\(dir)/<class>/...)" })
    }

    /// Scores `predictor` on `dir`. `warn` hears each skipped file and unreadable image as found.
    public static func run(dir: String, predictor: Predictor, batchSize: Int,
                           warn: (String) -> Void = { _ in }) throws -> Evaluation {
        let walk = FolderWalk()
        let (folders, brokenFolders) = try classFolders(dir, classNames: predictor.classNames, walk: walk)
        var skipped = brokenFolders
        // Every class folder is claimed first, so a link from one into another is not followed.
        folders.forEach { walk.claimTree($0.path) }
        var paths: [String] = [], labelOf: [String: Int] = [:]
        for folder in folders {
            let listing = try ImageList.scan(folder.path, recursive: true, walk: walk)
            skipped += listing.warnings
            if listing.images.isEmpty { skipped.append("\(folder.path) holds no .jpg, .jpeg or .png images: class '\(folder.name)' has support 0") }
            for path in listing.images where labelOf[path] == nil {
                paths.append(path)
                labelOf[path] = folder.index
            }
        }
        skipped.forEach(warn)
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
        return Evaluation(images: images, labels: labels, probabilities: probs, unreadable: unreadable,
                          skipped: skipped, report: report)
    }

    /// What evaluate prints: counts, accuracy (and top-5), the per-class table (4 digits, as
    /// `classification_report(digits=4)`), and the confusion matrix. With more than 20 classes,
    /// the matrix shows only the classes that are true or predicted at least once.
    public func text() -> String {
        var out = "\(images.count) images scored"
            + (unreadable.isEmpty ? "" : "; \(unreadable.count) unreadable, left out") + "\n"
        out += "accuracy: \(String(format: "%.4f", report.accuracy)) (\(images.count - wrong) of \(images.count))\n"
        if let t = report.top5Accuracy { out += "top-5 accuracy: \(String(format: "%.4f", t))\n" }
        out += "\n" + report.text(digits: 4) + "\n"
        let n = report.classNames.count
        var shown: [Int]? = nil
        if n > 20 {
            let seen = Set(labels).union(report.confusion.indices.filter { p in report.confusion.contains { $0[p] > 0 } })
            shown = seen.sorted()
        }
        out += "confusion matrix (rows: true class, columns: predicted"
            + (shown.map { "; the \($0.count) classes of \(n) that occur" } ?? "") + "):\n"
        out += report.confusionText(only: shown)
        return out
    }

    private var wrong: Int { zip(labels, probabilities).filter { $0.0 != ClassificationReport.argmax($0.1) }.count }

    /// The report's JSON object, with `dir`-independent extras: `unreadable` (paths).
    public func json() -> String {
        let unread = unreadable.map { PythonFormat.jsonString($0.path, asciiOnly: false) }.joined(separator: ", ")
        return report.json(extra: [("unreadable", "[\(unread)]")])
    }
}
