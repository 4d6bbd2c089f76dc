import ArgumentParser
import CLISupport
import Training

/// Turns Fashion-MNIST's IDX files into an image folder (train/<class>/, val/<class>/ of JPEGs)
/// for the demo: `make demo` runs it on Debian's dataset-fashion-mnist.
struct DemoData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo_data",
        abstract: "Make an image folder from (uncompressed) Fashion-MNIST IDX files.",
        version: GraftVersion.line("demo_data"))

    @Option(help: "Folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-*.") var idx: String
    @Option(help: "Class indices to keep, comma-separated.") var classes: String = "5,6,7,8,9"
    @Option(help: "Training images per class.") var trainPerClass: Int = 300
    @Option(help: "Validation images per class.") var valPerClass: Int = 60
    @Argument(help: "Output folder.") var output: String

    var keep: [Int] { classes.split(separator: ",").compactMap { Int($0) } }

    func validate() throws {
        let bad = classes.split(separator: ",").filter { Int($0).map { !FashionMNISTFolder.names.indices.contains($0) } ?? true }
        if !bad.isEmpty {
            throw ValidationError("--classes \(classes): \(bad.joined(separator: ", ")) is not a class index; use 0 to 9 ("
                + FashionMNISTFolder.names.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", ") + ")")
        }
    }

    func run() throws {
        try reportingErrors {
            try FashionMNISTFolder.write(idx: idx, classes: keep, trainPerClass: trainPerClass, valPerClass: valPerClass,
                                         to: output, log: { print($0) })
        }
    }
}

DemoData.main()
