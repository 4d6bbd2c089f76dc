import Cluster
import Foundation
import Imaging

/// How a long command talks to a terminal: log lines on standard output, warnings on standard
/// error (`<tool>: message`), and a progress bar that each new line replaces, shown only when
/// standard output is a terminal and cleared before any other line.
public final class ProgressConsole {
    public let interactive: Bool
    private var progressShown = false

    public init(interactive: Bool = isatty(STDOUT_FILENO) != 0
                    && !Cluster.launchedByMPI(ProcessInfo.processInfo.environment)) {
        self.interactive = interactive
    }

    private func endProgress() {
        if progressShown { print("\r\u{1B}[K", terminator: ""); fflush(nil); progressShown = false }
    }

    /// A line on standard output, control characters shown escaped (`TerminalText`: a class
    /// folder's name cannot set the terminal's title or colours, nor break the line).
    public func log(_ line: String) {
        endProgress()
        print(TerminalText.escaped(line))
        fflush(nil)
    }

    /// A warning on standard error.
    public func warning(_ line: String) {
        endProgress()
        warn(line)
    }

    /// The progress bar's callback: nil when standard output is not a terminal.
    public var progress: ((String) -> Void)? {
        guard interactive else { return nil }
        return { [self] line in
            print("\r\u{1B}[K" + TerminalText.escaped(line), terminator: "")
            fflush(nil)
            progressShown = true
        }
    }
}
