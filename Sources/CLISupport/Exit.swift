import ArgumentParser
import Cluster
import Foundation
import Imaging

/// The exit codes of every Graft command, in one table (the README repeats it).
///
/// | code | meaning |
/// |------|---------|
/// | 0  | success: everything asked for was done (batch_predict: at least one image was predicted; the unreadable ones are warned about) |
/// | 1  | failure: an error from a library (the message is on standard error), or predict could not read an image (the others are printed), or batch_predict could predict no image |
/// | 64 | usage: an unknown option, a missing argument or a value out of range (ArgumentParser prints the usage) |
public enum ExitStatus: Int32, CaseIterable, Sendable {
    case success = 0
    case failure = 1
    /// EX_USAGE, what ArgumentParser exits with for a `ValidationError` or a parse error.
    case usage = 64

    public var exitCode: ExitCode { ExitCode(rawValue) }

    /// The status a command ends with when `error` reaches it: an `ExitCode` or `CleanExit`
    /// as it says, a `ValidationError` as a usage error, and any other error (every library's
    /// typed error: CheckpointError, EngineError, ModelError, ImagingError, TrainingError...)
    /// as a failure.
    public static func of(_ error: Error) -> ExitStatus {
        switch error {
        case let e as ExitCode: return ExitStatus(rawValue: e.rawValue) ?? .failure
        case is CleanExit: return .success
        case is ValidationError: return .usage
        default: return .failure
        }
    }
}

/// Writes `<tool>: message` to standard error, control characters shown escaped
/// (`TerminalText`): a file name in the message cannot drive the terminal. The message's own
/// line breaks stay; a name with a line break in it is escaped where the message is made.
public func warn(_ message: String) {
    let tool = (CommandLine.arguments.first.map { ($0 as NSString).lastPathComponent }) ?? "graft"
    FileHandle.standardError.write(Data("\(tool): \(TerminalText.escapedKeepingLines(message))\n".utf8))
}

/// Runs a command's body. A library error becomes one line on standard error
/// (`<tool>: message`) and `ExitStatus.failure`; an `ExitCode`, `CleanExit` or
/// `ValidationError` goes on to ArgumentParser, which exits with it as `ExitStatus` says.
/// Under mpirun with several ranks, a library error on any rank ends the whole job at once
/// (MPI_Abort after that rank's line), so that the other ranks never wait for it forever.
public func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch {
        switch error {
        case is ExitCode, is CleanExit, is ValidationError: throw error
        default:
            let cluster = Cluster.world
            if cluster.usesMPI && cluster.isDistributed {
                cluster.abort("\(error)", code: ExitStatus.of(error).rawValue)
            }
            warn("\(error)")
            throw ExitStatus.of(error).exitCode
        }
    }
}
