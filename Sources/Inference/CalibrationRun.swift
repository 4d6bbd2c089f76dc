import Checkpoint
import Foundation
import Imaging
import Models

/// `graft calibrate`: runs the f32 folded model over images in the eval transform, records the
/// range of every value of its plan (`RangeRecorder`) and writes the calibration file beside
/// the weights (`Calibration.path(forWeights:)`), which `--precision int8` reads.
public enum CalibrationRun {
    public struct Result {
        public let calibration: Calibration
        /// Where it was written.
        public let path: String
        /// The images run, in order, and those that could not be read (left out, not counted).
        public let used: [String]
        public let unreadable: [(path: String, error: Error)]
    }

    /// The command that makes the calibration of `weights` (for refusals to quote).
    public static func command(weights: String) -> String {
        let safe = weights.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "/._-+".unicodeScalars.contains($0) }
        let w = safe ? weights : "'" + weights.replacingOccurrences(of: "'", with: "'\\''") + "'"
        return "graft calibrate --weights \(w) --images DIR (DIR: a few hundred images like those it will see, e.g. its training folder)"
    }

    /// Reads the calibration `--precision int8` needs for `weights`, refusing a missing, stale or damaged one.
    public static func read(forWeights weights: String) throws -> Calibration {
        // Only a regular file: a named pipe under the name would block the read.
        var st = stat()
        let path = Calibration.path(forWeights: weights)
        if PathBytes.withCString(path, { stat($0, &st) }) == 0, let what = PathBytes.notRegular(st.st_mode) {
            throw QuantizationError.calibrationInvalid(path: path, why: what)
        }
        return try Calibration.read(path: Calibration.path(forWeights: weights), weightsSHA256: Calibration.sha256(ofFile: weights),
                             command: command(weights: weights))
    }

    /// The order calibration takes the images of a folder in: round robin over the folders
    /// directly under `root` (in a training folder, one per class), each folder's images in path
    /// order, the folders in path order; images directly in `root` count as a folder of their
    /// own, first. The first `--count` images then sample every class, where the first by path
    /// would be the first classes' alone (500 of flower_data/train's 3,300 are all daisies).
    /// The same images give the same order.
    public static func order(_ images: [String], under root: String) -> [String] {
        let prefix = root.hasSuffix("/") ? root : root + "/"
        var groups: [String: [String]] = [:]
        for path in images {
            let relative = path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
            let folder = relative.firstIndex(of: "/").map { String(relative[..<$0]) } ?? ""
            groups[folder, default: []].append(path)
        }
        let ordered = groups.keys.sorted().map { groups[$0]! }
        var out: [String] = []
        out.reserveCapacity(images.count)
        for i in 0..<(ordered.map(\.count).max() ?? 0) {
            for g in ordered where i < g.count { out.append(g[i]) }
        }
        return out
    }

    /// The images of `folder` in the order calibration takes them (`order(_:under:)`), and the
    /// folder links not followed (to warn about).
    public static func images(in folder: String) throws -> (images: [String], loops: [String]) {
        let listing = try ImageList.scan(folder, recursive: true)
        return (order(listing.images, under: folder), listing.loops)
    }

    /// What the commands and the library say of a folder without images.
    public static func noImages(_ folder: String) -> String { "\(folder) holds no .jpg, .jpeg or .png image to calibrate on" }

    /// - Parameters:
    ///   - images: the images, in the order to take them (`order(_:under:)`: the same folder
    ///     gives the same file); the first `count` that decode are run.
    public static func run(weights: String, images: [String], count: Int, batchSize: Int, method: Calibration.Method,
                           transform: EvalTransform, loadOptions: LoadOptions, output: String? = nil,
                           progress: (Int) -> Void = { _ in }) throws -> Result {
        let ckpt = try Checkpoint(contentsOf: weights, options: loadOptions)
        let model = try InferenceModel(stateDict: try ckpt.modelStateDict())
        let recorder = RangeRecorder()
        let per = transform.tensorCount, side = transform.crop
        var buffer = [Float](repeating: 0, count: per * batchSize)
        var used: [String] = [], unreadable: [(String, Error)] = []
        var filled = 0
        func flush() throws {
            guard filled > 0 else { return }
            try buffer.withUnsafeBufferPointer {
                try recorder.run(model, images: UnsafeBufferPointer(rebasing: $0[0..<(filled * per)]), batch: filled, height: side, width: side)
            }
            filled = 0
            progress(used.count)
        }
        for path in images where used.count < count {
            do {
                try buffer.withUnsafeMutableBufferPointer {
                    try transform.write(path: path, into: UnsafeMutableBufferPointer(rebasing: $0[(filled * per)..<((filled + 1) * per)]))
                }
            } catch {
                unreadable.append((path, error)); continue
            }
            used.append(path); filled += 1
            if filled == batchSize { try flush() }
        }
        try flush()
        guard !used.isEmpty else { throw ModelError.badInput("no image could be read to calibrate on") }
        let calibration = recorder.calibration(of: model, weightsSHA256: try Calibration.sha256(ofFile: weights), method: method, imageSize: side)
        let path = output ?? Calibration.path(forWeights: weights)
        try calibration.encoded().write(to: URL(fileURLWithPath: path), options: .atomic)
        return Result(calibration: calibration, path: path, used: used, unreadable: unreadable)
    }
}
