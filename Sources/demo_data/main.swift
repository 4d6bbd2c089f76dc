import ArgumentParser
import Foundation
import Imaging
import Training

/// Turns Fashion-MNIST's IDX files into an image folder (train/<class>/, val/<class>/ of JPEGs)
/// for the demo: `make demo` runs it on Debian's dataset-fashion-mnist.
struct DemoData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo_data", abstract: "Make an image folder from (uncompressed) Fashion-MNIST IDX files.")

    static let names = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]

    @Option(help: "Folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-*.") var idx: String
    @Option(help: "Class indices to keep, comma-separated.") var classes: String = "5,6,7,8,9"
    @Option(help: "Training images per class.") var trainPerClass: Int = 300
    @Option(help: "Validation images per class.") var valPerClass: Int = 60
    @Argument(help: "Output folder.") var output: String

    func run() throws {
        let keep = classes.split(separator: ",").compactMap { Int($0) }
        for (split, prefix, per) in [("train", "train", trainPerClass), ("val", "t10k", valPerClass)] {
            let data = try IDXDataset(images: "\(idx)/\(prefix)-images-idx3-ubyte", labels: "\(idx)/\(prefix)-labels-idx1-ubyte")
            var written = [Int: Int]()
            for i in 0..<data.count {
                let label = Int(data.labels[i])
                guard keep.contains(label), written[label, default: 0] < per else { continue }
                let dir = "\(output)/\(split)/\(DemoData.names[label])"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let jpeg = try JPEGEncoder.grey(data.image(i), width: data.cols, height: data.rows)
                try Data(jpeg).write(to: URL(fileURLWithPath: String(format: "%@/%05d.jpg", dir, i)))
                written[label, default: 0] += 1
            }
            print("\(split): \(written.values.reduce(0, +)) images in \(keep.count) classes")
        }
    }
}

DemoData.main()
