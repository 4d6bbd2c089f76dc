import InferenceCommands

// The command is InferenceCommands' InspectWeights (`graft inspect` too).
InspectWeights.main()
