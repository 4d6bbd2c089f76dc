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
/// outside it. Only 200 and 206 are read: any other answer (a 401 with its login prompt, a 407,
/// a redirect to another scheme) ends the request at once with what the server said.
final class DownloadSessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    /// How the request ended, read by `Downloader` once `finished` is signalled.
    struct Outcome: Sendable {
        var status: Int?
        /// Bytes of the partial file on disk at the end.
        var bytesOnDisk: Int64
        /// The whole file's size, when the response said it.
        var totalBytes: Int64?
        /// The URLError code of a failed request (nil when it completed, or was ended here).
        var transportErrorCode: Int?
        /// Whether the request failed (a URLError, or a cancel after a write error).
        var failed = false
        /// A write to the partial file failed: errno.
        var writeErrno: Int32?
        /// A 206 whose Content-Range does not start at the partial file's end.
        var rangeMismatch: String?
        /// The WWW-Authenticate (401) or Proxy-Authenticate (407) header of a refusal.
        var challenge: String?
        /// Where a refused redirect led.
        var refusedRedirect: String?
    }

    private struct State {
        var outcome: Outcome
        var lastReport: Double = 0
        /// Set once the body may be written (a 200 or a fitting 206).
        var writing = false
    }

    let file: PartialFile
    let fileName: String
    let offset: Int64
    let startTime: Double
    let progress: (@Sendable (DownloadStatus) -> Void)?
    let finished = DispatchSemaphore(value: 0)
    private let state: Mutex<State>

    init(file: PartialFile, fileName: String, offset: Int64,
         progress: (@Sendable (DownloadStatus) -> Void)?) {
        self.file = file
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
        let challenge = http.value(forHTTPHeaderField: code == 407 ? "Proxy-Authenticate" : "WWW-Authenticate")
        let location = http.value(forHTTPHeaderField: "Location")
        let offset = self.offset
        let file = self.file
        let allow: Bool = state.withLock { s in
            s.outcome.status = code
            switch code {
            case 200:
                // A fresh body: the server ignored the Range (or none was sent). Start over.
                s.outcome.bytesOnDisk = 0
                s.outcome.totalBytes = length >= 0 ? length : nil
                s.outcome.writeErrno = file.truncate()
            case 206:
                let start = contentRange.flatMap(Self.rangeStart)
                if let start, start != offset {
                    s.outcome.rangeMismatch = "Content-Range '\(contentRange ?? "")' does not start at byte \(offset)"
                    return false
                }
                s.outcome.totalBytes = contentRange.flatMap(Self.rangeTotal)
                    ?? (length >= 0 ? offset + length : nil)
                s.outcome.writeErrno = file.seekToEnd()
            case 401, 407:
                if s.outcome.challenge == nil { s.outcome.challenge = challenge ?? "" }
                return false
            case 300..<400:
                // A redirect URLSession did not follow (see willPerformHTTPRedirection).
                if s.outcome.refusedRedirect == nil { s.outcome.refusedRedirect = location }
                return false
            default:
                return false
            }
            s.writing = s.outcome.writeErrno == nil
            return s.writing
        }
        completionHandler(allow ? .allow : .cancel)
    }

    /// Follows http(s) redirects only (never https → http); any other ends the request with the
    /// redirect's status and where it led.
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        let from = task.currentRequest?.url?.scheme?.lowercased() ?? task.originalRequest?.url?.scheme?.lowercased()
        let location = response.value(forHTTPHeaderField: "Location") ?? request.url?.absoluteString ?? "?"
        // The Location's own scheme counts (Foundation may resolve "file:///x" against the host).
        let to = Self.scheme(of: location) ?? request.url?.scheme?.lowercased()
        if request.url?.scheme?.lowercased() == to, to == "https" || (to == "http" && from != "https") {
            completionHandler(request)
            return
        }
        state.withLock { s in
            s.outcome.status = response.statusCode
            s.outcome.refusedRedirect = location
        }
        completionHandler(nil)
        task.cancel()
    }

    /// A login prompt (401 with WWW-Authenticate, 407 with Proxy-Authenticate) is never answered:
    /// the request ends at once with the status and the prompt.
    func urlSession(_ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        let response = challenge.failureResponse as? HTTPURLResponse
        let code = response?.statusCode ?? (challenge.protectionSpace.isProxy() ? 407 : 401)
        let header = response?.value(forHTTPHeaderField: code == 407 ? "Proxy-Authenticate" : "WWW-Authenticate")
        state.withLock { s in
            s.outcome.status = code
            s.outcome.challenge = header ?? challenge.protectionSpace.authenticationMethod
        }
        completionHandler(.cancelAuthenticationChallenge, nil)
        task.cancel()
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let file = self.file
        let report: DownloadStatus? = state.withLock { s in
            guard s.writing, s.outcome.writeErrno == nil else { return nil }
            if let failed = file.append(data) {
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
        let file = self.file
        state.withLock { s in
            if s.writing, s.outcome.writeErrno == nil { s.outcome.writeErrno = file.sync() }
            s.writing = false
            if let error {
                s.outcome.failed = true
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

    /// The scheme of an absolute URL (RFC 3986: a letter, then letters, digits, "+-." up to ':'),
    /// lowercased; nil for a relative reference.
    static func scheme(of reference: String) -> String? {
        guard let colon = reference.firstIndex(of: ":") else { return nil }
        let s = reference[..<colon]
        guard let first = s.first, first.isASCII, first.isLetter,
              s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else { return nil }
        return s.lowercased()
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
