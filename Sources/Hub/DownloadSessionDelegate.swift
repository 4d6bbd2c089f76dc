import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One HTTP GET streamed to a partial file: URLSession calls it on its delegate queue, the
/// downloader waits for `finished`. All state is under one lock; the progress callback runs
/// outside it.
final class DownloadSessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    /// How the request ended, read by `Downloader` once `finished` is signalled.
    struct Outcome: Sendable {
        var status: Int?
        /// Bytes of the partial file on disk at the end.
        var bytesOnDisk: Int64
        /// The whole file's size, when the response said it.
        var totalBytes: Int64?
        /// The transport error, if any (a URLError, or a cancel after a write error).
        var transportError: String?
        var transportErrorCode: Int?
        /// A write to the partial file failed: errno.
        var writeErrno: Int32?
        /// A 206 whose Content-Range does not start at the partial file's end.
        var rangeMismatch: String?
    }

    private struct State {
        var fd: Int32 = -1
        var outcome: Outcome
        var lastReport: Double = 0
    }

    let partialPath: String
    let fileName: String
    let offset: Int64
    let startTime: Double
    let progress: (@Sendable (DownloadStatus) -> Void)?
    let finished = DispatchSemaphore(value: 0)
    private let state: Mutex<State>

    init(partialPath: String, fileName: String, offset: Int64,
         progress: (@Sendable (DownloadStatus) -> Void)?) {
        self.partialPath = partialPath
        self.fileName = fileName
        self.offset = offset
        self.progress = progress
        self.startTime = Self.now()
        self.state = Mutex(State(outcome: Outcome(bytesOnDisk: offset)))
    }

    var outcome: Outcome { state.withLock { $0.outcome } }

    /// The last report, once every byte is on disk.
    func finalStatus() -> DownloadStatus {
        let o = outcome
        return status(of: o, at: Self.now(), finished: true)
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        guard let http = response as? HTTPURLResponse else {
            completionHandler(.cancel)
            return
        }
        let code = http.statusCode
        let length = response.expectedContentLength
        let contentRange = http.value(forHTTPHeaderField: "Content-Range")
        let offset = self.offset
        let path = partialPath
        let allow: Bool = state.withLock { s in
            s.outcome.status = code
            switch code {
            case 200:
                // A fresh body: the server ignored the Range (or none was sent). Start over.
                s.outcome.bytesOnDisk = 0
                s.outcome.totalBytes = length >= 0 ? length : nil
                s.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            case 206:
                let start = contentRange.flatMap(Self.rangeStart)
                if let start, start != offset {
                    s.outcome.rangeMismatch = "Content-Range '\(contentRange ?? "")' does not start at byte \(offset)"
                    return false
                }
                s.outcome.totalBytes = contentRange.flatMap(Self.rangeTotal)
                    ?? (length >= 0 ? offset + length : nil)
                s.fd = open(path, O_WRONLY | O_APPEND)
            default:
                return false
            }
            if s.fd < 0 {
                s.outcome.writeErrno = errno
                return false
            }
            return true
        }
        completionHandler(allow ? .allow : .cancel)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let report: DownloadStatus? = state.withLock { s in
            guard s.fd >= 0, s.outcome.writeErrno == nil else { return nil }
            let failed: Int32? = data.withUnsafeBytes { raw -> Int32? in
                guard var p = raw.baseAddress else { return nil }
                var left = raw.count
                while left > 0 {
                    let n = write(s.fd, p, left)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    if n == 0 { return ENOSPC }
                    left -= n
                    p += n
                }
                return nil
            }
            if let failed {
                s.outcome.writeErrno = failed
                return nil
            }
            s.outcome.bytesOnDisk += Int64(data.count)
            let t = Self.now()
            guard progress != nil, t - s.lastReport >= 0.1 else { return nil }
            s.lastReport = t
            return status(of: s.outcome, at: t, finished: false)
        }
        if state.withLock({ $0.outcome.writeErrno != nil }) {
            dataTask.cancel()
            return
        }
        if let report { progress?(report) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        state.withLock { s in
            if s.fd >= 0 {
                if fsync(s.fd) != 0, s.outcome.writeErrno == nil, errno != EINVAL { s.outcome.writeErrno = errno }
                if close(s.fd) != 0, s.outcome.writeErrno == nil { s.outcome.writeErrno = errno }
                s.fd = -1
            }
            if let error {
                s.outcome.transportError = error.localizedDescription
                s.outcome.transportErrorCode = (error as? URLError)?.errorCode ?? (error as NSError).code
            }
        }
        finished.signal()
    }

    private func status(of o: Outcome, at t: Double, finished: Bool) -> DownloadStatus {
        let elapsed = max(t - startTime, 1e-6)
        let resumed = o.status == 206 ? offset : 0
        let rate = Double(o.bytesOnDisk - resumed) / elapsed
        var eta: Double? = nil
        if let total = o.totalBytes, rate > 0 { eta = Double(max(0, total - o.bytesOnDisk)) / rate }
        return DownloadStatus(fileName: fileName, bytesSoFar: o.bytesOnDisk, totalBytes: o.totalBytes,
                              resumedFrom: resumed, bytesPerSecond: rate, etaSeconds: eta, finished: finished)
    }

    /// START of `bytes START-END/TOTAL`.
    static func rangeStart(_ header: String) -> Int64? {
        guard let r = header.split(separator: " ").last,
              let dash = r.firstIndex(of: "-") else { return nil }
        return Int64(r[r.startIndex..<dash])
    }

    /// TOTAL of `bytes START-END/TOTAL`, nil for `*`.
    static func rangeTotal(_ header: String) -> Int64? {
        guard let slash = header.lastIndex(of: "/") else { return nil }
        return Int64(header[header.index(after: slash)...])
    }
}
