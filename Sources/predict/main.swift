import Imaging
import InferenceCommands

// The command is InferenceCommands' Predict (`graft predict` too). The arguments with their
// bytes kept: an image whose name is not UTF-8 is found.
Predict.main(Array(PathBytes.arguments.dropFirst()))
