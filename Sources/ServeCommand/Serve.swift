import ArgumentParser
import CLISupport
import Foundation
import Hummingbird
import Inference
import Logging
import ServiceLifecycle

/// `graft serve`: a fine-tuned model behind HTTP, with dynamic batching.
public struct Serve: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over HTTP: POST an image, get predict --json's answer; requests are batched together.",
        discussion: """
            Routes:
              POST /v1/predict[?top_k=K]  a JPEG or PNG body (Content-Type image/jpeg or image/png), or multipart/form-data with one or more parts named image; answers predict --json's object (an array for multipart) with top_k, the K most probable classes (default 5)
              GET  /v1/model              the architecture, classes, eval transform, precision and weights
              GET  /healthz               200 while the process runs
              GET  /readyz                200 once the model is loaded and warmed, 503 before and while draining
              GET  /metrics               Prometheus: requests by route and status, latency, batch sizes, queue depth, images/s

            Errors are JSON, {"error": ..., "detail": ...}: 400 an unreadable image (the decoder's reason) or request, 401 a missing or wrong API key, 408 a body slower than --read-timeout, 413 a body over --max-body, 415 a body that is not an image, 429 the queue full (Retry-After), 503 starting or draining.

            Requests wait at most --max-wait-ms for others to fill a batch of up to --max-batch; decoding runs on --decode-threads beside the model. SIGTERM or Ctrl-C drains: no new requests, everything queued answered, exit 0. No request can make the server read or write a file.

            Examples:
              graft serve --weights resNet34.pth
              curl --data-binary @tulip.jpg -H 'Content-Type: image/jpeg' 'http://127.0.0.1:8080/v1/predict?top_k=3'
              curl -F image=@a.jpg -F image=@b.png http://127.0.0.1:8080/v1/predict
              graft serve --weights resnet50 --host 0.0.0.0 --api-key-file key.txt
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: ArgumentHelp("The address to listen on. Anything but loopback can be reached from other machines: give --api-key-file then.", valueName: "address"))
    var host = "127.0.0.1"

    @Option(help: "The TCP port (0: any free one; the line printed at start names it).")
    var port = 8080

    @Option(help: ArgumentHelp("The largest request body: bytes, or with KB, MB (1024-based).", valueName: "size"))
    var maxBody = "20MB"

    @Option(help: "The most images the model runs at once.")
    var maxBatch = 32

    @Option(help: "How long a request waits for others to fill a batch, milliseconds.")
    var maxWaitMs: Double = 5

    @Option(help: "The most images waiting for the model; more answer 429 at once.")
    var maxQueue = 256

    @Option(help: "Threads that decode and preprocess images beside the model.")
    var decodeThreads = 2

    @Option(help: ArgumentHelp("A file holding the API key (one line): every route but /healthz and /readyz then asks for Authorization: Bearer <key>.",
                               valueName: "file"))
    var apiKeyFile: String?

    @Option(help: "Seconds a request body may take to arrive (408 after).")
    var readTimeout: Double = 30

    @Option(help: "Seconds a connection may sit with nothing to read before it is closed.")
    var idleTimeout: Double = 30

    public init() {}

    public func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
        guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1") }
        guard maxQueue >= maxBatch else { throw ValidationError("--max-queue must be at least --max-batch (\(maxBatch))") }
        guard maxWaitMs >= 0, maxWaitMs <= 10_000 else { throw ValidationError("--max-wait-ms must be from 0 to 10000") }
        guard decodeThreads >= 1 else { throw ValidationError("--decode-threads must be at least 1") }
        guard readTimeout > 0, idleTimeout > 0 else { throw ValidationError("--read-timeout and --idle-timeout must be more than 0") }
        guard Self.bytes(maxBody) != nil else { throw ValidationError("--max-body: \(maxBody) is not a size (20MB, 512KB, 1048576)") }
    }

    /// `20MB`, `512KB`, `1048576`: bytes (1024-based units), at least 1.
    static func bytes(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        for (suffix, scale) in [("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10), ("B", 1)] where t.hasSuffix(suffix) {
            guard let n = Int(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n >= 1, n <= (1 << 40) / scale else { return nil }
            return n * scale
        }
        guard let n = Int(t), n >= 1 else { return nil }
        return n
    }

    public func run() throws {
        ConvolutionCacheSetting.useStandard()
        try reportingErrors {
            var config = ServeConfiguration()
            config.host = host
            config.port = port
            config.maxBody = Self.bytes(maxBody)!
            config.limits = .init(maxBatch: maxBatch, maxWait: .microseconds(Int64(maxWaitMs * 1000)), maxQueue: maxQueue)
            config.decodeThreads = decodeThreads
            config.readTimeout = .milliseconds(Int64(readTimeout * 1000))
            config.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
            config.serverName = "graft/" + GraftVersion.number
            if let file = apiKeyFile { config.apiKey = try Self.apiKey(file) }
            if config.apiKey == nil, !Self.isLoopback(host) {
                warn("listening on \(host) without --api-key-file: anyone who can reach this port can use the model")
            }

            let files = try model.files()
            let predictor = try model.makePredictor(files: files, defaultConv: .auto)
            let served = ServedModel(architecture: predictor.model.name, classNames: predictor.classNames, transform: predictor.transform,
                                     precision: model.precision.rawValue, conv: (model.conv ?? .auto).rawValue, tta: predictor.tta.rawValue,
                                     weightsPath: files.weights, weightsName: files.named.map { "\($0.architecture) \($0.enumName)" },
                                     classIndices: predictor.usesKnownNames ? nil : files.classIndices.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil })
            let batcher = Self.batcher(for: predictor, limits: config.limits)
            let server = PredictionServer(configuration: config, model: served, batcher: batcher)
            try ServeRun.run(server, verbose: model.verbose)
        }
    }

    /// The batcher that runs `predictor`: `--conv auto`'s decisions for each prepared batch size
    /// (over a long run of batches), then its probabilities, test-time augmentation included.
    static func batcher(for predictor: Predictor, limits: InferenceBatcher.Limits) -> InferenceBatcher {
        let per = predictor.transform.tensorCount
        let batcher = InferenceBatcher(limits: limits, floatsPerImage: per, roomPerImage: per * predictor.tta.views,
                                       classes: predictor.numClasses) { images, count in
            try predictor.probabilities(tensors: images, count: count)
        }
        batcher.prepare = { [sizes = batcher.preparedSizes] in
            for size in sizes { try predictor.decideConvolutions(images: size * 1000, batchSize: size) }
        }
        return batcher
    }

    static func apiKey(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--api-key-file \(path): cannot read it")
        }
        let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !key.isEmpty, !key.contains(where: { $0.isNewline || $0.isWhitespace }) else {
            throw ValidationError("--api-key-file \(path): the key must be one line without spaces")
        }
        guard key.utf8.count >= 16 else {
            throw ValidationError("--api-key-file \(path): the key is \(key.utf8.count) characters; give at least 16 (openssl rand -hex 32 > \(path))")
        }
        return Array(key.utf8)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// Runs the server until SIGTERM or SIGINT: the batcher (warm-up, then batches), the HTTP
/// application, and the drain that answers what is queued.
enum ServeRun {
    static func run(_ server: PredictionServer, verbose: Bool) throws {
        var logger = Logger(label: "graft-serve")
        logger.logLevel = verbose ? .info : .warning
        let config = server.configuration
        let start = ContinuousClock.now
        let model = server.model
        let group = services(server, logger: logger, signals: true, onListening: { port in
            say("graft serve: listening on http://\(config.host.contains(":") ? "[\(config.host)]" : config.host):\(port)")
        }, onReady: {
            let (s, a) = (ContinuousClock.now - start).components
            say("graft serve: ready: \(model.architecture), \(model.classNames.count) classes, "
                + String(format: "warmed up in %.1f s", Double(s) + Double(a) * 1e-18))
        })
        let outcome = Outcome()
        Task {
            do { try await group.run() } catch { outcome.set(error) }
            outcome.done.signal()
        }
        outcome.done.wait()
        if let error = outcome.error { throw error }
        say("graft serve: drained, stopped")
    }

    /// The server's services, shut down last first: the drain marker, the HTTP application,
    /// the batcher. With `signals`, SIGTERM and SIGINT shut it down gracefully.
    static func services(_ server: PredictionServer, logger: Logger, signals: Bool,
                         onListening: @escaping @Sendable (Int) -> Void, onReady: @escaping @Sendable () -> Void) -> ServiceGroup {
        let app = server.application(logger: logger) { port in onListening(port) }
        return ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [BatcherService(server: server, onReady: onReady), app, DrainMarker(batcher: server.batcher)],
            gracefulShutdownSignals: signals ? [.sigterm, .sigint] : [], logger: logger))
    }

    /// A line on standard output at once (tests and scripts wait for these).
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    final class Outcome: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var stored: Error?
        func set(_ e: Error) { lock.lock(); stored = e; lock.unlock() }
        var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }
    }
}

/// The model's side: warm-up (readiness), then batches; on shutdown (after the HTTP server has
/// answered its last request) it drains the queue and stops the threads.
struct BatcherService: Service {
    let server: PredictionServer
    let onReady: @Sendable () -> Void

    func run() async throws {
        let batcher = server.batcher
        let warm: Result<Void, Error> = await withCheckedContinuation { c in batcher.start { c.resume(returning: $0) } }
        try warm.get()
        onReady()
        try? await gracefulShutdown()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            Thread {
                batcher.drain()
                server.pool.close()
                c.resume()
            }.start()
        }
    }
}

/// Last in the group, so the first told of a shutdown: from then on requests answer 503
/// (draining), while the HTTP server finishes those it has.
struct DrainMarker: Service {
    let batcher: InferenceBatcher

    func run() async throws {
        try? await gracefulShutdown()
        batcher.beginDraining()
    }
}
