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
/// the bytes go to `.<file>.partial` beside the destination (streamed, never whole in memory);
/// a partial file left by an interrupted run is resumed with `Range: bytes=<size>-`; the whole
/// file's SHA-256 must start with the expected prefix, and only then is it renamed atomically
/// to the destination. Synchronous: `download` returns when the file is in place or throws a
/// `DownloadError`.
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

    /// Downloads `url` to `destination` (a file path), checking that the file's SHA-256 (lowercase
    /// hex) starts with `sha256Prefix`.
    public func download(from url: URL, to destination: String, sha256Prefix: String) throws {
        let destURL = URL(fileURLWithPath: destination)
        let folder = destURL.deletingLastPathComponent().path
        let fileName = destURL.lastPathComponent
        let partial = Self.partialPath(for: destination)
        let link = url.absoluteString
        // Held until the end: a second download of the same file fails fast instead of
        // writing into the same partial file.
        var lock = try prepare(folder: folder, partial: partial)
        defer { if lock >= 0 { close(lock) } }

        // Two rounds at most: a 416 on a partial file that turns out bad starts over once.
        for _ in 0..<2 {
            let offset = Self.size(of: partial) ?? 0
            let delegate = DownloadSessionDelegate(partialPath: partial, fileName: fileName, offset: offset,
                                                   progress: progress)
            request(url, offset: offset, delegate: delegate)
            let o = delegate.outcome

            if let e = o.writeErrno {
                let removed = Self.remove(partial)
                throw DownloadError.writeFailed(path: partial, reason: String(cString: strerror(e)),
                                                diskFull: e == ENOSPC || e == EDQUOT, partialRemoved: removed)
            }
            if let reason = o.rangeMismatch {
                _ = Self.remove(partial)
                throw DownloadError.badResponse(url: link, reason: reason, partialPath: partial)
            }
            switch o.status {
            case nil:
                Self.removeIfEmpty(partial)
                throw DownloadError.unreachable(url: link, reason: o.transportError ?? "no response",
                                                fileName: fileName, folder: folder)
            case 200?, 206?:
                let short = o.totalBytes.map { o.bytesOnDisk < $0 } ?? false
                if o.transportError != nil || short {
                    let reason = o.transportError
                        ?? "\(o.bytesOnDisk) of \(o.totalBytes ?? 0) bytes arrived"
                    if o.bytesOnDisk == 0 {
                        Self.removeIfEmpty(partial)
                        throw DownloadError.unreachable(url: link, reason: reason, fileName: fileName, folder: folder)
                    }
                    throw DownloadError.interrupted(url: link, reason: reason, bytesOnDisk: o.bytesOnDisk,
                                                    partialPath: partial)
                }
                if let progress { progress(delegate.finalStatus()) }
                try verifyAndMove(partial: partial, to: destination, prefix: sha256Prefix, url: link)
                return
            case 416? where offset > 0:
                // Range Not Satisfiable: the partial file is the whole file already, or it is bad.
                if let actual = try? Self.sha256Hex(of: partial), Self.matches(actual, sha256Prefix) {
                    try verifyAndMove(partial: partial, to: destination, prefix: sha256Prefix, url: link)
                    return
                }
                _ = Self.remove(partial)
                if lock >= 0 { close(lock) }
                lock = -1
                lock = try prepare(folder: folder, partial: partial)
            case let code?:
                Self.removeIfEmpty(partial)
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

    /// Creates the folder and the partial file (if absent) and locks the partial file (flock);
    /// returns the locked descriptor (-1 where the file system has no locks). A folder that
    /// cannot be written fails here.
    private func prepare(folder: String, partial: String) throws -> Int32 {
        if let reason = Self.makeFolder(folder) {
            throw DownloadError.folderNotWritable(folder: folder, reason: reason)
        }
        let fd = open(partial, O_WRONLY | O_CREAT, 0o644)
        if fd < 0 {
            let e = errno
            if e == ENOSPC || e == EDQUOT {
                throw DownloadError.writeFailed(path: partial, reason: String(cString: strerror(e)),
                                                diskFull: true, partialRemoved: true)
            }
            throw DownloadError.folderNotWritable(folder: folder, reason: "cannot create \(partial): \(String(cString: strerror(e)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK { throw DownloadError.busy(partialPath: partial) }
            return -1  // a file system without locks (ENOLCK): go on unlocked
        }
        return fd
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

    private func verifyAndMove(partial: String, to destination: String, prefix: String, url: String) throws {
        let actual: String
        do {
            actual = try Self.sha256Hex(of: partial)
        } catch {
            let removed = Self.remove(partial)
            throw DownloadError.writeFailed(path: partial, reason: "cannot read it back: \(error.localizedDescription)",
                                            diskFull: false, partialRemoved: removed)
        }
        guard Self.matches(actual, prefix) else {
            _ = Self.remove(partial)
            throw DownloadError.hashMismatch(url: url, expectedPrefix: prefix.lowercased(), actual: actual,
                                             deletedPath: partial)
        }
        if rename(partial, destination) != 0 {
            let e = errno
            let removed = Self.remove(partial)
            throw DownloadError.writeFailed(path: destination, reason: "cannot rename \(partial): \(String(cString: strerror(e)))",
                                            diskFull: e == ENOSPC, partialRemoved: removed)
        }
    }

    static func matches(_ actualHex: String, _ prefix: String) -> Bool {
        !prefix.isEmpty && actualHex.hasPrefix(prefix.lowercased())
    }

    /// The file's SHA-256 as lowercase hex, read in 1 MiB chunks.
    public static func sha256Hex(of path: String) throws -> String {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    static func size(of path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    /// Removes `path`; true when it is gone afterwards.
    @discardableResult
    static func remove(_ path: String) -> Bool {
        unlink(path) == 0 || errno == ENOENT
    }

    static func removeIfEmpty(_ path: String) {
        if size(of: path) == 0 { remove(path) }
    }
}
