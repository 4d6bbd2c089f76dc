import Checkpoint
import Foundation
import Imaging
import Inference

/// The demo's image folder from Fashion-MNIST's IDX files: `train/<class>/` and `val/<class>/`
/// of greyscale JPEGs, the first images of each kept class (training images from `train-*`,
/// validation images from `t10k-*`).
public enum FashionMNISTFolder {
    /// Fashion-MNIST's ten class names, by label.
    public static let names = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]

    /// Why the folder cannot be written.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// A folder cannot be made (`reason`: the system's words).
        case cannotMakeFolder(path: String, reason: String)
        /// An image cannot be written.
        case cannotWrite(path: String, reason: String)

        public var description: String {
            let hint = "Give demo_data an output folder you can write to (with room for the images)."
            switch self {
            case let .cannotMakeFolder(p, why): return "cannot make the folder \(p): \(why). \(hint)"
            case let .cannotWrite(p, why): return "cannot write \(p): \(why). \(hint)"
            }
        }
    }

    /// Writes the folder under `output`; `classes` are labels (0...9) to keep. `log` gets one
    /// line per split.
    public static func write(idx: String, classes keep: [Int], trainPerClass: Int, valPerClass: Int,
                             to output: String, log: (String) -> Void) throws {
        for (split, prefix, per) in [("train", "train", trainPerClass), ("val", "t10k", valPerClass)] {
            let data = try IDXDataset(images: "\(idx)/\(prefix)-images-idx3-ubyte", labels: "\(idx)/\(prefix)-labels-idx1-ubyte")
            var written = [Int: Int]()
            for i in 0..<data.count {
                let label = Int(data.labels[i])
                guard keep.contains(label), names.indices.contains(label), written[label, default: 0] < per else { continue }
                let dir = "\(output)/\(split)/\(names[label])"
                try makeFolders(dir)
                let jpeg = try JPEGEncoder.grey(data.image(i), width: data.cols, height: data.rows)
                let file = String(format: "%@/%05d.jpg", dir, i)
                do { try TemporaryFile.write(jpeg, to: file) } catch CheckpointError.writeFailed(_, let reason) {
                    throw Failure.cannotWrite(path: file, reason: reason)
                }
                written[label, default: 0] += 1
            }
            log("\(split): \(written.values.reduce(0, +)) images in \(keep.count) classes")
        }
    }

    /// `mkdir -p dir`: a failure names the folder that could not be made.
    static func makeFolders(_ dir: String) throws {
        var missing: [String] = []
        var folder = dir
        var isDir: ObjCBool = false
        while !folder.isEmpty && folder != "/" && folder != "." && !FileManager.default.fileExists(atPath: folder, isDirectory: &isDir) {
            missing.append(folder)
            folder = OutputPath.folder(of: folder)  // NSString's traps on a one-character path
        }
        if !folder.isEmpty && folder != "/" && folder != "." && !isDir.boolValue {
            throw Failure.cannotMakeFolder(path: missing.last ?? dir, reason: "\(folder) is a file, not a folder")
        }
        for f in missing.reversed() where mkdir(f, 0o777) != 0 && errno != EEXIST {
            throw Failure.cannotMakeFolder(path: f, reason: TemporaryFile.systemReason(errno))
        }
    }
}
