import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Downloads one file over HTTP(S) as `torch.hub.download_url_to_file` does, plus resume:
/// the bytes go to `.<file>.partial` beside the destination (streamed, never whole in memory;
/// opened so that nothing already at that name is written through, see `PartialFile`); a
/// partial file left by an interrupted run is resumed with `Range: bytes=<size>-`; the whole
/// file's SHA-256 must start with the expected prefix, and only then is it renamed atomically
/// to the destination. Any answer but 200/206 ends the download at once. Synchronous:
/// `download` returns when the file is in place or throws a `DownloadError`, whose messages
/// hide the URL's credentials.
public struct Downloader: Sendable {
    public let progress: (@Sendable (DownloadStatus) -> Void)?
    /// Seconds without a byte before the request gives up.
    public let timeout: TimeInterval

    public init(progress: (@Sendable (DownloadStatus) -> Void)? = nil, timeout: TimeInterval = 60) {
        self.progress = progress
        self.timeout = timeout
    }

    /// The partial file a download of `destination` writes to: `.<file>.partial` beside it.
    public static func partialPath(for destination: String) -> String {
        let url = URL(fileURLWithPath: destination)
        return url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".partial").path
    }

    /// What a command says as a download starts (the URL's credentials hidden).
    public static func startMessage(url: URL, destination: String) -> String {
        "downloading \(URLRedaction.redact(url.absoluteString)) to \(destination)"
    }

    /// Downloads `url` to `destination` (a file path), checking that the file's SHA-256 (lowercase
    /// hex) starts with `sha256Prefix`.
    public func download(from url: URL, to destination: String, sha256Prefix: String) throws {
        let destURL = URL(fileURLWithPath: destination)
        let folder = destURL.deletingLastPathComponent().path
        let fileName = destURL.lastPathComponent
        let link = URLRedaction.redact(url.absoluteString)
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw DownloadError.unreachable(url: link, reason: "Graft downloads only http:// and https:// URLs",
                                            fileName: fileName, folder: folder)
        }
        // Held until the end: a second download of the same file fails fast instead of
        // writing into the same partial file.
        let file = try prepare(folder: folder, partial: Self.partialPath(for: destination))
        defer { file.close() }
        let partial = file.path

        // Two rounds at most: a 416 on a partial file that turns out bad starts over once.
        for _ in 0..<2 {
            let offset = file.size
            let delegate = DownloadSessionDelegate(file: file, fileName: fileName, offset: offset, progress: progress)
            request(url, offset: offset, delegate: delegate)
            let o = delegate.outcome
            func removeIfEmpty() { if file.size == 0 { file.remove() } }

            if let e = o.writeErrno {
                let removed = file.remove()
                throw DownloadError.writeFailed(path: partial, reason: String(cString: strerror(e)),
                                                diskFull: e == ENOSPC || e == EDQUOT, partialRemoved: removed)
            }
            if let reason = o.rangeMismatch {
                file.remove()
                throw DownloadError.badResponse(url: link, reason: reason, partialPath: partial)
            }
            let failure = o.failed ? TransportFailure.reason(code: o.transportErrorCode, url: url, timeout: timeout) : nil
            switch o.status {
            case nil:
                removeIfEmpty()
                throw DownloadError.unreachable(url: link, reason: failure ?? "the server sent no HTTP answer",
                                                fileName: fileName, folder: folder)
            case 200?, 206?:
                let short = o.totalBytes.map { o.bytesOnDisk < $0 } ?? false
                if failure != nil || short {
                    let reason = failure ?? "\(o.bytesOnDisk) of \(o.totalBytes ?? 0) bytes arrived"
                    if o.bytesOnDisk == 0 {
                        removeIfEmpty()
                        throw DownloadError.unreachable(url: link, reason: reason, fileName: fileName, folder: folder)
                    }
                    if !file.resumable { file.remove() }
                    throw DownloadError.interrupted(url: link, reason: reason, bytesOnDisk: o.bytesOnDisk,
                                                    partialPath: file.resumable ? partial : nil)
                }
                if let progress { progress(delegate.finalStatus()) }
                try verifyAndMove(file, to: destination, prefix: sha256Prefix, url: link)
                return
            case 416? where offset > 0:
                // Range Not Satisfiable: the partial file is the whole file already, or it is bad.
                if case .success(let actual) = file.sha256Hex(), Self.matches(actual, sha256Prefix) {
                    try verifyAndMove(file, to: destination, prefix: sha256Prefix, url: link)
                    return
                }
                if let e = file.truncate() {
                    let removed = file.remove()
                    throw DownloadError.writeFailed(path: partial, reason: String(cString: strerror(e)),
                                                    diskFull: false, partialRemoved: removed)
                }
            case 401?, 407?:
                removeIfEmpty()
                throw DownloadError.authenticationRequired(code: o.status ?? 401, challenge: o.challenge ?? "", url: link,
                                                           fileName: fileName, folder: folder)
            case let code? where o.refusedRedirect != nil:
                removeIfEmpty()
                _ = code
                throw DownloadError.redirectRefused(url: link, location: URLRedaction.redact(o.refusedRedirect ?? ""),
                                                    fileName: fileName, folder: folder)
            case let code?:
                removeIfEmpty()
                throw DownloadError.httpStatus(code: code, url: link, fileName: fileName, folder: folder)
            }
        }
        throw DownloadError.badResponse(url: link, reason: "the server refuses every Range request",
                                        partialPath: partial)
    }

    /// Runs one GET (with a Range when `offset` > 0) and waits until it ends.
    private func request(_ url: URL, offset: Int64, delegate: DownloadSessionDelegate) {
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.urlCache = nil
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: config, delegate: delegate, delegateQueue: queue)
        var req = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        req.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if offset > 0 { req.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        session.dataTask(with: req).resume()
        delegate.finished.wait()
        session.finishTasksAndInvalidate()
    }

    /// Creates the folder and opens the partial file (see `PartialFile`), locked. A folder that
    /// cannot be written fails here.
    private func prepare(folder: String, partial: String) throws -> PartialFile {
        if let reason = Self.makeFolder(folder) {
            throw DownloadError.folderNotWritable(folder: folder, reason: reason)
        }
        do {
            return try PartialFile.make(fixed: partial)
        } catch PartialFile.OpenError.busy {
            throw DownloadError.busy(partialPath: partial)
        } catch PartialFile.OpenError.system(let path, let e) {
            if e == ENOSPC || e == EDQUOT {
                throw DownloadError.writeFailed(path: path, reason: String(cString: strerror(e)),
                                                diskFull: true, partialRemoved: true)
            }
            throw DownloadError.folderNotWritable(folder: folder, reason: "cannot create \(path): \(String(cString: strerror(e)))")
        }
    }

    /// `mkdir -p`: nil when `folder` is a directory afterwards, else why not.
    static func makeFolder(_ folder: String) -> String? {
        var st = stat()
        if stat(folder, &st) == 0 {
            return (st.st_mode & S_IFMT) == S_IFDIR ? nil : "\(folder) exists and is not a folder"
        }
        let parent = URL(fileURLWithPath: folder).deletingLastPathComponent().path
        if parent != folder, let reason = makeFolder(parent) { return reason }
        if mkdir(folder, 0o755) != 0 && errno != EEXIST {
            return "cannot create \(folder): \(String(cString: strerror(errno)))"
        }
        return nil
    }

    private func verifyAndMove(_ file: PartialFile, to destination: String, prefix: String, url: String) throws {
        let actual: String
        switch file.sha256Hex() {
        case .success(let hex): actual = hex
        case .failure(let e):
            let removed = file.remove()
            throw DownloadError.writeFailed(path: file.path, reason: "cannot read it back: \(String(cString: strerror(e.errno)))",
                                            diskFull: false, partialRemoved: removed)
        }
        guard Self.matches(actual, prefix) else {
            file.remove()
            throw DownloadError.hashMismatch(url: url, expectedPrefix: prefix.lowercased(), actual: actual,
                                             deletedPath: file.path)
        }
        if let e = file.move(to: destination) {
            let removed = file.remove()
            let why = e == ENOENT ? "\(file.path) was moved or replaced by someone else during the download"
                : "cannot rename \(file.path): \(String(cString: strerror(e)))"
            throw DownloadError.writeFailed(path: destination, reason: why, diskFull: e == ENOSPC, partialRemoved: removed)
        }
    }

    static func matches(_ actualHex: String, _ prefix: String) -> Bool {
        !prefix.isEmpty && actualHex.hasPrefix(prefix.lowercased())
    }

    /// The file's SHA-256 as lowercase hex, read in 1 MiB chunks; throws the system's words
    /// (`PartialFile.ReadError`) when it cannot be read.
    public static func sha256Hex(of path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PartialFile.ReadError(errno: errno) }
        defer { close(fd) }
        return try PartialFile.sha256Hex(fd: fd).get()
    }
}
