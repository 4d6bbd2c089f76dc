/// Where a download stands, as `Downloader` reports it to its progress callback.
public struct DownloadStatus: Sendable, Equatable {
    /// The file being written, e.g. `resnet34-b627a593.pth`.
    public var fileName: String
    /// Bytes of the file on disk so far, a resumed part included.
    public var bytesSoFar: Int64
    /// The whole file's size, when the server said it.
    public var totalBytes: Int64?
    /// Bytes that were already on disk when this run began (a resumed download), else 0.
    public var resumedFrom: Int64
    /// Bytes per second over this run (the resumed part not counted).
    public var bytesPerSecond: Double
    /// Seconds left at the current rate, when the total is known and the rate is positive.
    public var etaSeconds: Double?
    /// True once for the last report, when every byte is on disk.
    public var finished: Bool

    public init(fileName: String, bytesSoFar: Int64, totalBytes: Int64?, resumedFrom: Int64 = 0,
                bytesPerSecond: Double, etaSeconds: Double?, finished: Bool = false) {
        self.fileName = fileName
        self.bytesSoFar = bytesSoFar
        self.totalBytes = totalBytes
        self.resumedFrom = resumedFrom
        self.bytesPerSecond = bytesPerSecond
        self.etaSeconds = etaSeconds
        self.finished = finished
    }

    /// The fraction done in 0...1, when the total is known.
    public var fraction: Double? {
        guard let total = totalBytes, total > 0 else { return nil }
        return min(1, max(0, Double(bytesSoFar) / Double(total)))
    }
}
