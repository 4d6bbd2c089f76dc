import Foundation
import Prometheus

/// `graft serve`'s Prometheus metrics (`GET /metrics`): requests by route and status, their
/// latency, the batch sizes the model ran, the queue's depth and images per second.
final class ServeMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let lock = NSLock()
    /// (end of batch, images) over the last `window`, for images/s.
    private var recent: [(ContinuousClock.Instant, Int)] = []
    private let window: Duration = .seconds(10)
    private let queueDepth: Gauge
    private let imagesPerSecond: Gauge
    private let images: Counter
    private let batchSizes: ValueHistogram
    private let batchSeconds: DurationHistogram
    /// The queue's depth when asked (the batcher's).
    var depth: @Sendable () -> Int = { 0 }

    static let requestBuckets: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                             .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                             .milliseconds(2500), .seconds(5), .seconds(10)]

    /// `batchSizes`: the batch sizes the model runs (the batcher's prepared sizes), the
    /// histogram's buckets.
    init(batchSizes: [Int]) {
        queueDepth = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "graft", metricName: "queue_depth", unitName: "images",
            helpText: "Images admitted and waiting for the model (decoding or queued)."))
        imagesPerSecond = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "graft", metricName: "throughput", unitName: "images_per_second",
            helpText: "Images the model answered per second over the last 10 seconds."))
        images = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "graft", metricName: "images", unitName: "total", helpText: "Images the model answered."))
        self.batchSizes = registry.makeValueHistogram(descriptor: MetricNameDescriptor(
            namespace: "graft", metricName: "batch_size", unitName: "images",
            helpText: "Images per batch the model ran (dynamic batching)."), buckets: Set(batchSizes).sorted().map(Double.init))
        batchSeconds = registry.makeDurationHistogram(descriptor: MetricNameDescriptor(
            namespace: "graft", metricName: "batch_duration", unitName: "seconds",
            helpText: "The model's time per batch."), buckets: Self.requestBuckets)
    }

    /// One answered request: its route (the matched pattern, or Hummingbird's "NotFound"), status and time.
    func request(route: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "graft", subsystem: "http", metricName: "requests", unitName: "total",
            helpText: "HTTP requests answered, by route and status."),
            labels: [("route", route), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: MetricNameDescriptor(
            namespace: "graft", subsystem: "http", metricName: "request_duration", unitName: "seconds",
            helpText: "Time from the request's head to its answer, by route."),
            labels: [("route", route)], buckets: Self.requestBuckets).record(duration)
    }

    /// One batch the model ran.
    func batch(size: Int, seconds: Double) {
        batchSizes.record(Double(size))
        batchSeconds.record(.nanoseconds(Int64(seconds * 1e9)))
        images.increment(by: Int64(size))
        lock.lock()
        recent.append((.now, size))
        lock.unlock()
    }

    /// The exposition text, its gauges read now.
    func exposition() -> [UInt8] {
        lock.lock()
        let now = ContinuousClock.now
        recent.removeAll { $0.0 < now - window }
        let count = recent.reduce(0) { $0 + $1.1 }
        lock.unlock()
        imagesPerSecond.set(Double(count) / 10)
        queueDepth.set(Int64(depth()))
        return registry.emitToBuffer()
    }
}
