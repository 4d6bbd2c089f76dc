import Foundation
import Imaging

/// A file a command will write, checked before the command does any work, with finetune's own
/// check (`FinetuneJob.checkWritable`: the folder exists and is writable, the path is not a
/// folder), so that a run never does all its work only to fail at the end.
public enum OutputPath {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case cannotWrite(path: String, option: String, command: String, TrainingError.WriteProblem)

        public var description: String {
            switch self {
            case let .cannotWrite(path, option, command, problem):
                return "\(option) \(TerminalText.escaped(path)): cannot write it: \(problem.words). "
                    + "Choose a path in a writable folder; \(command) checked this before reading anything, and wrote nothing."
            }
        }
    }

    /// Fails unless every path can be written; `option` names each one in the message.
    public static func check(_ outputs: [(path: String, option: String)], command: String) throws {
        for (path, option) in outputs {
            do { try FinetuneJob.checkWritable(path) } catch TrainingError.cannotWrite(_, let problem) {
                throw Failure.cannotWrite(path: path, option: option, command: command, problem)
            }
        }
    }
}
