import Checkpoint
import Foundation
import Inference
import HTMLReport
import Imaging

/// Writes report.html after every epoch (the Trainer calls `write`), atomically as
/// metrics.json is written, so the file is whole while the run goes on. Thumbnails are made
/// once per image and kept.
public final class ReportWriter {
    public let path: String
    public let commandLine: [String]
    private var thumbnails: [String: [UInt8]?] = [:]

    /// `commandLine`: the arguments the report shows (default: this process's).
    public init(path: String, commandLine: [String] = ReportWriter.invocation) {
        self.path = path
        self.commandLine = commandLine
    }

    /// report.html beside the metrics file `metrics`.
    public static func defaultPath(metrics: String) -> String {
        let folder = OutputPath.folder(of: metrics)  // NSString's crashes on a one-character path
        return folder.isEmpty ? "report.html" : (folder as NSString).appendingPathComponent("report.html")
    }

    /// Builds the report of `trainer`'s run so far and writes it.
    public func write(trainer: Trainer) throws {
        let report = try RunReport(trainer: trainer, commandLine: commandLine, thumbnail: thumbnail)
        try TemporaryFile.write(Array(report.html.utf8), to: path)
    }

    /// The JPEG thumbnail of the image at `path`: decoded as training decodes it, its longer
    /// side shrunk to `RunReport.thumbnailSide` (Pillow's bilinear), encoded by `JPEGEncoder`.
    /// nil when any step fails (the report shows the mistake without a picture).
    public func thumbnail(_ path: String) -> [UInt8]? {
        if let known = thumbnails[path] { return known }
        let made = Self.makeThumbnail(path)
        thumbnails[path] = made
        return made
    }

    static func makeThumbnail(_ path: String) -> [UInt8]? { ReportPage.thumbnail(path) }

    /// This process's arguments, the command named as typed (`finetune`, not the build folder's path).
    public static var invocation: [String] {
        var args = CommandLine.arguments
        if let tool = args.first { args[0] = (tool as NSString).lastPathComponent }
        return args
    }
}
