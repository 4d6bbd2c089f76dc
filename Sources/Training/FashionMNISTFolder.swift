import Foundation
import Imaging

/// The demo's image folder from Fashion-MNIST's IDX files: `train/<class>/` and `val/<class>/`
/// of greyscale JPEGs, the first images of each kept class (training images from `train-*`,
/// validation images from `t10k-*`).
public enum FashionMNISTFolder {
    /// Fashion-MNIST's ten class names, by label.
    public static let names = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]

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
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let jpeg = try JPEGEncoder.grey(data.image(i), width: data.cols, height: data.rows)
                try Data(jpeg).write(to: URL(fileURLWithPath: String(format: "%@/%05d.jpg", dir, i)))
                written[label, default: 0] += 1
            }
            log("\(split): \(written.values.reduce(0, +)) images in \(keep.count) classes")
        }
    }
}
