import FinetuneCommands
import Imaging

// The command is FinetuneCommands' FinetuneCommand (`graft finetune` too). The command line's
// bytes as given: a DATA folder whose name is not UTF-8 is found, not repaired.
FinetuneCommand.main(Array(PathBytes.arguments.dropFirst()))
