import ArgumentParser
import CLISupport
import ExportCommand
import FinetuneCommands
import Imaging
import InferenceCommands
import ServeCommand

/// `graft`: every Graft command as a subcommand, as `git` has them (`graft predict`, `graft
/// finetune`...). Each is the same struct as its own executable (`predict`, `finetune`...);
/// commands added since (`graft export`) exist only here.
struct Graft: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graft",
        abstract: "Run and fine-tune torchvision classifiers on the CPU.",
        discussion: """
            Each subcommand is also its own executable, with the same options: finetune, predict, batch_predict, evaluate and inspect_weights (graft inspect). graft export, graft calibrate, graft compare and graft serve exist only here. `graft help <subcommand>` or `graft <subcommand> --help` shows a subcommand's options.

            Examples:
              graft finetune --weights resnet34 --classes 5 flower_data
              graft predict tulip.jpg
              graft export --onnx model.onnx
              graft compare --weights resnet18,mobilenet_v3_large --classes 5 flower_data
              graft serve --weights resNet34.pth
            """,
        version: GraftVersion.line("graft"),
        subcommands: [FinetuneCommand.self, Predict.self, BatchPredict.self, Evaluate.self, InspectWeights.self, Export.self, Calibrate.self,
                      CompareCommand.self, Serve.self])
}

// The arguments with their bytes kept: a file or folder whose name is not UTF-8 is found.
Graft.main(Array(PathBytes.arguments.dropFirst()))
