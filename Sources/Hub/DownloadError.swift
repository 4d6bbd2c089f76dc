/// What can go wrong downloading weights (see `Downloader`). Each message names the URL, the
/// file and the folder, and says what the user can do.
public enum DownloadError: Error, CustomStringConvertible, Equatable {
    /// No answer from the server: no network, unknown host, connection refused, a timeout before
    /// any byte arrived. `reason` is the system's words.
    case unreachable(url: String, reason: String, fileName: String, folder: String)
    /// The server answered with an HTTP status other than 200/206 (e.g. 404 on a mirror).
    case httpStatus(code: Int, url: String, fileName: String, folder: String)
    /// The connection broke after some bytes arrived; the partial file is kept for a resume.
    case interrupted(url: String, reason: String, bytesOnDisk: Int64, partialPath: String)
    /// The whole file's SHA-256 does not start with the expected prefix; the file was deleted.
    case hashMismatch(url: String, expectedPrefix: String, actual: String, deletedPath: String)
    /// Writing failed (disk full, folder not writable); the partial file was removed.
    case writeFailed(path: String, reason: String, diskFull: Bool, partialRemoved: Bool)
    /// The destination's folder cannot be created or written to; nothing was downloaded.
    case folderNotWritable(folder: String, reason: String)
    /// Another process is downloading the same file right now (it holds the partial file's lock).
    case busy(partialPath: String)
    /// The server's answer to a Range request does not fit the partial file; it was removed.
    case badResponse(url: String, reason: String, partialPath: String)

    /// The way round a failed download: the file, by hand, where Graft looks.
    static func byHand(_ fileName: String, _ folder: String) -> String {
        "or download the file by hand and put it at \(folder)/\(fileName) (file name '\(fileName)' in folder '\(folder)')."
    }

    public var description: String {
        switch self {
        case let .unreachable(url, reason, fileName, folder):
            return "Could not download \(url): \(reason). Check the network (or the mirror setting), "
                + DownloadError.byHand(fileName, folder)
        case let .httpStatus(code, url, fileName, folder):
            return "The server answered HTTP \(code) for \(url). Check the URL (or the mirror setting), "
                + DownloadError.byHand(fileName, folder)
        case let .interrupted(url, reason, bytesOnDisk, partialPath):
            return "The download of \(url) was cut off (\(reason)) after \(bytesOnDisk) bytes. "
                + "The partial file \(partialPath) is kept: run the same command again and it "
                + "resumes where it stopped."
        case let .hashMismatch(url, expectedPrefix, actual, deletedPath):
            return "The file downloaded from \(url) has SHA-256 \(actual), which does not start with "
                + "\(expectedPrefix): it was deleted (\(deletedPath)) and nothing was used. "
                + "Run again to download it afresh; if this repeats, the server or mirror serves a "
                + "different file."
        case let .writeFailed(path, reason, diskFull, partialRemoved):
            let what = diskFull ? "The disk is full while writing" : "Could not write"
            let removed = partialRemoved ? "the partial file was removed" : "the partial file could not be removed"
            let todo = diskFull ? "Free some space and run again."
                : "Make the folder writable (or choose another with TORCH_HOME) and run again."
            return "\(what) \(path) (\(reason)); \(removed). \(todo)"
        case let .folderNotWritable(folder, reason):
            return "Cannot write to the folder \(folder) (\(reason)); nothing was downloaded. Make it "
                + "writable, or choose another cache folder with TORCH_HOME, and run again."
        case let .busy(partialPath):
            return "Another download of the same file is under way (it holds \(partialPath)). Wait for it "
                + "to finish and run again; the finished file is then used from the cache."
        case let .badResponse(url, reason, partialPath):
            return "The server's answer for \(url) does not fit the partial file (\(reason)); "
                + "\(partialPath) was removed. Run again to download the file afresh."
        }
    }
}
