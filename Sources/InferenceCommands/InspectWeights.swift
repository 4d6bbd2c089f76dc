import ArgumentParser
import CLISupport
import Models

public struct InspectWeights: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: Invocation.name("inspect_weights", subcommand: "inspect"),
        abstract: "Show what is in a PyTorch checkpoint (.pth): format, architecture, tensors.",
        discussion: """
            Reads all three forms torch.save has written (zip, legacy stream, tar, such as torchvision's resnet34-333f7ec4.pth) without running Python and without executing anything from the file. A file named like a torch.hub download (NAME-<hex>.pth) is checked against that SHA-256 prefix.

            Examples:
              inspect_weights resnet34-pre.pth
              inspect_weights --json resNet34.pth | jq '.tensors[0]'
            """,
        version: Invocation.version("inspect_weights", subcommand: "inspect"))

    @Argument(help: "The checkpoint file.")
    var file: String

    @Flag(help: "Print one JSON object: format, architecture, num_classes and every tensor with its SHA-256.")
    var json = false

    @OptionGroup var read: ReadOptions

    public init() {}

    public func run() throws {
        try reportingErrors {
            print(try WeightsReport.inspect(file, json: json, options: read.loadOptions), terminator: "")
        }
    }
}
