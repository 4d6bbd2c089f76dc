import Imaging
import InferenceCommands

// The command is InferenceCommands' Evaluate (`graft evaluate` too). The arguments with their
// bytes kept: a folder whose name is not UTF-8 is found.
Evaluate.main(Array(PathBytes.arguments.dropFirst()))
