/// What can go wrong downloading weights (see `Downloader`). Each message names the URL (its
/// credentials hidden, see `URLRedaction`), the file and the folder, and says what the user can do.
public enum DownloadError: Error, CustomStringConvertible, Equatable {
    /// No answer from the server: no network, unknown host, connection refused, a stall before
    /// any byte arrived. `reason` is in Graft's words (see `TransportFailure`).
    case unreachable(url: String, reason: String, fileName: String, folder: String)
    /// The server answered with an HTTP status other than 200/206 (e.g. 404 on a mirror).
    case httpStatus(code: Int, url: String, fileName: String, folder: String)
    /// 401 or 407: the server (or a proxy) asks for credentials; `challenge` is its
    /// WWW-Authenticate / Proxy-Authenticate header ("" when it sent none).
    case authenticationRequired(code: Int, challenge: String, url: String, fileName: String, folder: String)
    /// The server redirected to `location`, which is not http(s) (or is http after https).
    case redirectRefused(url: String, location: String, fileName: String, folder: String)
    /// The connection broke after some bytes arrived; the partial file is kept for a resume
    /// (`partialPath`), or nil when it could not be kept (see `PartialFile`).
    case interrupted(url: String, reason: String, bytesOnDisk: Int64, partialPath: String?)
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

    /// HTTP's reason phrase for `code` ("404 Not Found"), or the bare code.
    static func statusLine(_ code: Int) -> String {
        let phrases = [301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
                       307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized",
                       403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 407: "Proxy Authentication Required",
                       408: "Request Timeout", 410: "Gone", 416: "Range Not Satisfiable", 429: "Too Many Requests",
                       500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                       504: "Gateway Timeout"]
        return phrases[code].map { "\(code) \($0)" } ?? "\(code)"
    }

    /// What the user can do about `code`.
    static func advice(_ code: Int) -> String {
        switch code {
        case 403: return "The server refuses this file to Graft: check the URL (or the mirror setting) and that the file may be read, "
        case 404, 410: return "The file is not there: check the URL (or the mirror setting), "
        case 429, 500..<600: return "The server is busy or broken: try again later, use another mirror, "
        case 300..<400: return "Graft follows only redirects to http:// and https:// URLs: check the URL (or the mirror setting), "
        default: return "Check the URL (or the mirror setting), "
        }
    }

    /// A header or URL from the server, printable: control characters (a terminal's escapes,
    /// line breaks) as '?', cut at 300 characters.
    static func printable(_ s: String) -> String {
        let cleaned = String(s.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
        return cleaned.count > 300 ? cleaned.prefix(300) + "..." : cleaned
    }

    public var description: String { URLRedaction.redact(message) }

    private var message: String {
        switch self {
        case let .unreachable(url, reason, fileName, folder):
            return "Could not download \(url): \(reason). Check the network (or the mirror setting), "
                + DownloadError.byHand(fileName, folder)
        case let .httpStatus(code, url, fileName, folder):
            return "The server answered HTTP \(Self.statusLine(code)) for \(url). " + Self.advice(code)
                + DownloadError.byHand(fileName, folder)
        case let .authenticationRequired(code, challenge, url, fileName, folder):
            let who = code == 407 ? "A proxy between here and the server" : "The server"
            let header = code == 407 ? "Proxy-Authenticate" : "WWW-Authenticate"
            let asked = challenge.isEmpty ? "" : " (\(header): \(Self.printable(challenge)))"
            let todo = code == 407
                ? "Set up the proxy's credentials in https_proxy/http_proxy, or use a mirror that needs none, "
                : "Graft answers no login prompts: use a mirror that needs none, "
            return "\(who) answered HTTP \(Self.statusLine(code)) for \(url): it asks for credentials\(asked). "
                + todo + DownloadError.byHand(fileName, folder)
        case let .redirectRefused(url, location, fileName, folder):
            return "The server redirected to \(Self.printable(location)) (asked for \(url)), which Graft does not follow "
                + "(only http:// and https://, and never from https:// to http://). Check the URL (or the mirror setting), "
                + DownloadError.byHand(fileName, folder)
        case let .interrupted(url, reason, bytesOnDisk, partialPath?):
            return "The download of \(url) was cut off (\(reason)) after \(bytesOnDisk) bytes. "
                + "The partial file \(partialPath) is kept: run the same command again and it "
                + "resumes where it stopped."
        case let .interrupted(url, reason, bytesOnDisk, nil):
            return "The download of \(url) was cut off (\(reason)) after \(bytesOnDisk) bytes; nothing was kept "
                + "(something that is not Graft's own file holds the usual partial file's name). Run again."
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
