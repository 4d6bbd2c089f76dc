import Imaging
import InferenceCommands

// The command is InferenceCommands' BatchPredict (`graft batch_predict` too). The arguments with
// their bytes kept: a folder whose name is not UTF-8 is found.
BatchPredict.main(Array(PathBytes.arguments.dropFirst()))
