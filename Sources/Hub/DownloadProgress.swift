import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a download's progress reads: a one-line bar redrawn in place on a terminal, plain lines
/// (one every 10%) otherwise. The formatting functions are pure; `reporter` wires them to an output.
public enum DownloadProgress {
    /// Width of the bar between the brackets.
    public static let barWidth = 20

    /// `resnet34-b627a593.pth [#########-----------]  45.2 MB / 87.3 MB  12.1 MB/s  ETA 0:04`;
    /// without a known total: `resnet34-b627a593.pth  45.2 MB  12.1 MB/s`.
    public static func bar(_ s: DownloadStatus) -> String {
        let rate = "\(bytes(Int64(s.bytesPerSecond.rounded())))/s"
        guard let total = s.totalBytes, let fraction = s.fraction else {
            return "\(s.fileName)  \(bytes(s.bytesSoFar))  \(rate)"
        }
        let filled = min(barWidth, Int((fraction * Double(barWidth)).rounded(.down)))
        let glyphs = String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled)
        let tail = s.finished ? "done" : "ETA \(s.etaSeconds.map(duration) ?? "?")"
        return "\(s.fileName) [\(glyphs)]  \(bytes(s.bytesSoFar)) / \(bytes(total))  \(rate)  \(tail)"
    }

    /// The line for plain output, or nil when `s` does not cross into a new tenth since `previous`
    /// (the status of the last line printed; nil before the first). With no known total, one line
    /// per 10 MB. The last report (`finished`) always gets a line.
    public static func plainLine(_ s: DownloadStatus, after previous: DownloadStatus?) -> String? {
        let step = bucket(s)
        if !s.finished, let previous, bucket(previous) >= step { return nil }
        if !s.finished, previous == nil, step == 0, s.resumedFrom == 0 { return nil }
        let rate = "\(bytes(Int64(s.bytesPerSecond.rounded())))/s"
        if s.finished {
            return "\(s.fileName): done, \(bytes(s.bytesSoFar)) (\(rate))"
        }
        guard let total = s.totalBytes, let fraction = s.fraction else {
            return "\(s.fileName): \(bytes(s.bytesSoFar))  \(rate)"
        }
        let percent = Int((fraction * 100).rounded(.down))
        return "\(s.fileName): \(percent)%  \(bytes(s.bytesSoFar)) / \(bytes(total))  \(rate)"
            + "  ETA \(s.etaSeconds.map(duration) ?? "?")"
    }

    /// The tenth done (0...10), or the count of 10 MB steps when the total is unknown.
    static func bucket(_ s: DownloadStatus) -> Int64 {
        if let fraction = s.fraction { return Int64((fraction * 10).rounded(.down)) }
        return s.bytesSoFar / 10_000_000
    }

    /// Decimal units (1 MB = 10^6 bytes), as file sizes are usually quoted: `87.3 MB`, `512 B`.
    public static func bytes(_ n: Int64) -> String {
        let v = Double(max(0, n))
        if v < 1000 { return "\(Int64(v)) B" }
        if v < 1_000_000 { return String(format: "%.1f kB", v / 1000) }
        if v < 1_000_000_000 { return String(format: "%.1f MB", v / 1_000_000) }
        return String(format: "%.2f GB", v / 1_000_000_000)
    }

    /// `0:04`, `12:30`, `1:02:03`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let t = Int(seconds.rounded())
        let h = t / 3600, m = (t % 3600) / 60, sec = t % 60
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, sec) : String(format: "%d:%02d", m, sec)
    }

    /// A progress callback for `Downloader`: on a terminal it redraws the bar in place (`\r`,
    /// a newline at the end), otherwise it writes `plainLine`s. `write` gets whole chunks of text.
    public static func reporter(terminal: Bool,
                                write: @escaping @Sendable (String) -> Void) -> @Sendable (DownloadStatus) -> Void {
        let last = Mutex<(printed: DownloadStatus?, width: Int)>((nil, 0))
        return { status in
            let text: String? = last.withLock { state in
                if terminal {
                    let line = bar(status)
                    let pad = String(repeating: " ", count: max(0, state.width - line.count))
                    state.width = line.count
                    return "\r" + line + pad + (status.finished ? "\n" : "")
                }
                guard let line = plainLine(status, after: state.printed) else { return nil }
                state.printed = status
                return line + "\n"
            }
            if let text { write(text) }
        }
    }

    /// `reporter` on standard error, a bar when it is a terminal.
    public static func standardError() -> @Sendable (DownloadStatus) -> Void {
        reporter(terminal: isatty(STDERR_FILENO) != 0) { text in
            FileHandle.standardError.write(Data(text.utf8))
        }
    }
}
