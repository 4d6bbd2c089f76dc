import Foundation
import Hummingbird
import Imaging
import Inference
import Logging
import Multipart
import NIOCore
import ServiceLifecycle

/// What `graft serve` was told: where to listen, what to admit, how to batch.
struct ServeConfiguration: Sendable {
    var host = "127.0.0.1"
    var port = 8080
    /// Largest request body, bytes (413 above).
    var maxBody = 20 << 20
    var limits = InferenceBatcher.Limits()
    var decodeThreads = 2
    /// The bearer token every route but /healthz and /readyz asks for; nil: none.
    var apiKey: [UInt8]?
    /// Longest a request body may take to arrive (408 after).
    var readTimeout: Duration = .seconds(30)
    /// A connection with nothing to read for this long is closed.
    var idleTimeout: Duration = .seconds(30)
    var serverName = "graft"
}

/// What `GET /v1/model` describes, and what the predictions are named with.
struct ServedModel: Sendable {
    var architecture: String
    var classNames: [String]
    var transform: EvalTransform
    var precision: String
    var conv: String
    var tta: String
    /// The weights file, and torchvision's name for them where they were given by name.
    var weightsPath: String
    var weightsName: String?
    var classIndices: String?
}

/// An error answer: `{"error": ..., "detail": ...}` with its status.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let error: String
    let detail: String
    var headers: HTTPFields = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var h = headers
        h[.contentType] = "application/json"
        let body = "{\"error\": \(PythonFormat.jsonString(error)), \"detail\": \(PythonFormat.jsonString(detail))}\n"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func badRequest(_ detail: String) -> APIError { APIError(status: .badRequest, error: "bad request", detail: detail) }
}

/// `graft serve`'s routes over one batcher and one pool of decode threads.
final class PredictionServer: Sendable {
    let configuration: ServeConfiguration
    let model: ServedModel
    let batcher: InferenceBatcher
    let pool: DecodePool
    let metrics: ServeMetrics
    /// The media types `POST /v1/predict` reads as one image (the decoder tells JPEG from PNG by content).
    static let imageTypes = ["image/jpeg", "image/jpg", "image/png", "application/octet-stream"]

    init(configuration: ServeConfiguration, model: ServedModel, batcher: InferenceBatcher) {
        self.configuration = configuration
        self.model = model
        self.batcher = batcher
        pool = DecodePool(threads: configuration.decodeThreads)
        metrics = ServeMetrics(batchSizes: batcher.preparedSizes + [configuration.limits.maxBatch])
        metrics.depth = { [batcher] in batcher.depth }
        batcher.onBatch = { [metrics] size, seconds in metrics.batch(size: size, seconds: seconds) }
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: AnswerMiddleware(metrics: metrics, apiKey: configuration.apiKey))
        router.get("/healthz") { _, _ in Self.json("{\"status\": \"alive\"}") }
        router.get("/readyz") { [batcher] _, _ -> Response in
            if batcher.isDraining { throw Self.refusal(.draining) }
            guard batcher.isReady else { throw Self.refusal(.starting) }
            return Self.json("{\"status\": \"ready\"}")
        }
        router.get("/metrics") { [metrics] _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        router.get("/v1/model") { [self] _, _ in Self.json(modelJSON()) }
        router.post("/v1/predict") { [self] request, _ in try await predict(request) }
        return router
    }

    /// The Hummingbird application: the routes, the idle timeout, the address.
    func application(logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let (s, a) = configuration.idleTimeout.components
        return Application(
            router: router(),
            server: .http1(configuration: .init(idleTimeout: .nanoseconds(s * 1_000_000_000 + a / 1_000_000_000))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: configuration.serverName),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    static func refusal(_ r: InferenceBatcher.Refusal) -> APIError {
        switch r {
        case let .queueFull(waiting, asked, limit):
            return APIError(status: .tooManyRequests, error: "queue full",
                            detail: "\(waiting) images are waiting for the model (--max-queue \(limit)); this request has \(asked). Retry shortly.",
                            headers: [.retryAfter: "1"])
        case .starting:
            return APIError(status: .serviceUnavailable, error: "starting",
                            detail: "the model is loading and warming up; GET /readyz answers 200 once it can predict.",
                            headers: [.retryAfter: "1"])
        case .draining:
            return APIError(status: .serviceUnavailable, error: "draining",
                            detail: "the server is shutting down: it finishes what it has queued and takes nothing new.")
        }
    }

    // MARK: POST /v1/predict

    /// One image of a request: its name in the answer, its bytes.
    struct Upload: Sendable {
        let name: String
        let bytes: [UInt8]
    }

    func predict(_ request: Request) async throws -> Response {
        if batcher.isDraining { throw Self.refusal(.draining) }
        if !batcher.isReady { throw Self.refusal(.starting) }
        let topK = try Self.topK(request.uri.queryParameters.get("top_k"), classes: model.classNames.count)
        let (mediaType, boundary) = Self.mediaType(request.headers[.contentType])
        let multipart = mediaType == "multipart/form-data"
        guard multipart || mediaType == nil || Self.imageTypes.contains(mediaType!) else {
            throw APIError(status: .unsupportedMediaType, error: "unsupported media type",
                           detail: "Content-Type \(request.headers[.contentType] ?? "") is not an image: send a JPEG or PNG as the body "
                               + "(Content-Type image/jpeg or image/png; curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg'), "
                               + "or multipart/form-data with one or more parts named image (curl -F image=@photo.jpg).")
        }
        let body = try await readBody(request)
        let uploads = multipart ? try Self.parts(body, boundary: boundary, limit: configuration.limits.maxQueue)
                                : [Upload(name: "body", bytes: Array(buffer: body))]
        do { try batcher.admit(uploads.count) } catch let r as InferenceBatcher.Refusal { throw Self.refusal(r) }
        let probs = try await run(uploads)
        let objects = zip(uploads, probs).map { upload, p in
            Self.answer(Prediction(image: upload.name, probs: p), names: model.classNames, topK: topK)
        }
        return Self.json(multipart ? "[" + objects.joined(separator: ", ") + "]" : objects[0])
    }

    /// Decodes every upload on the decode threads (all or none: an unreadable one answers 400,
    /// naming it), then waits for the model's probabilities of each.
    private func run(_ uploads: [Upload]) async throws -> [[Float]] {
        let transform = model.transform
        var tensors = [[Float]](repeating: [], count: uploads.count)
        var failure: (Int, Error)?
        await withTaskGroup(of: (Int, Result<[Float], Error>).self) { group in
            for (i, upload) in uploads.enumerated() {
                group.addTask { [pool] in
                    do {
                        return (i, .success(try await pool.run {
                            try transform.normalization.tensor(transform.image(ImageDecoder.decode(bytes: upload.bytes, path: upload.name)))
                        }))
                    } catch { return (i, .failure(error)) }
                }
            }
            for await (i, result) in group {
                switch result {
                case .success(let t): tensors[i] = t
                case .failure(let e): if failure == nil || i < failure!.0 { failure = (i, e) }
                }
            }
        }
        if let (i, error) = failure {
            batcher.cancel(uploads.count)
            let reason = (error as? ImagingError)?.reason ?? "\(error)"
            throw APIError(status: .badRequest, error: "unreadable image",
                           detail: uploads.count > 1 ? "part \(i + 1) (\(uploads[i].name)): \(reason)" : reason)
        }
        return try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for (i, t) in tensors.enumerated() {
                group.addTask { [batcher] in (i, try await batcher.submit(t)) }
            }
            var probs = [[Float]](repeating: [], count: uploads.count)
            for try await (i, p) in group { probs[i] = p }
            return probs
        }
    }

    /// The body, at most `--max-body` bytes, within `--read-timeout`.
    private func readBody(_ request: Request) async throws -> ByteBuffer {
        let limit = configuration.maxBody
        let tooLarge = APIError(status: .contentTooLarge, error: "body too large",
                                detail: "the body is larger than --max-body (\(limit) bytes)")
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit { throw tooLarge }
        let timeout = configuration.readTimeout
        do {
            return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask { try await request.body.collect(upTo: limit) }
                group.addTask { try await Task.sleep(for: timeout); return nil }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let body = first else {
                    throw APIError(status: .requestTimeout, error: "body too slow",
                                   detail: "the body did not arrive within --read-timeout (\(timeout.components.seconds) s)")
                }
                return body
            }
        } catch is NIOTooManyBytesError {
            throw tooLarge
        } catch let e as APIError {
            throw e
        } catch {
            // The connection closed or broke before the body was whole.
            throw APIError.badRequest("the body ended before it was complete (\(error))")
        }
    }

    /// `?top_k=K`: K of the classes (at most all of them); default 5, or every class where fewer.
    static func topK(_ given: String?, classes: Int) throws -> Int {
        guard let given else { return min(5, classes) }
        guard let k = Int(given), k >= 1 else { throw APIError.badRequest("top_k must be a whole number of at least 1, not \(given)") }
        return min(k, classes)
    }

    /// The media type (lowercased, without parameters) and its boundary parameter.
    static func mediaType(_ header: String?) -> (type: String?, boundary: String?) {
        guard let header else { return (nil, nil) }
        let (type, parameters) = FormData.parameters(header)
        return (type.isEmpty ? nil : type, parameters["boundary"])
    }

    /// The parts named `image` of a multipart/form-data body, in order; at most `limit`.
    static func parts(_ body: ByteBuffer, boundary: String?, limit: Int) throws -> [Upload] {
        guard let boundary else {
            throw APIError.badRequest("multipart/form-data without a boundary parameter in its Content-Type")
        }
        let parts: [FormData.Part]
        do {
            parts = try FormData.parse(Array(buffer: body), boundary: boundary, maxParts: limit + 64)
        } catch let e as FormData.Failure {
            throw APIError.badRequest("the multipart/form-data body is malformed: \(e)")
        }
        let images = parts.filter { $0.name == "image" }
        guard !images.isEmpty else {
            throw APIError.badRequest("no part named image in the multipart/form-data body (curl -F image=@photo.jpg)"
                + (parts.isEmpty ? "" : "; its parts are named " + parts.map { $0.name ?? "(no name)" }.joined(separator: ", ")))
        }
        guard images.count <= limit else {
            throw APIError(status: .contentTooLarge, error: "too many images",
                           detail: "\(images.count) images in one request; at most \(limit) (--max-queue)")
        }
        return images.enumerated().map { i, part in Upload(name: part.filename ?? "image \(i + 1)", bytes: part.body) }
    }

    /// `predict --json`'s object for one image, with `top_k`: the K most probable classes.
    static func answer(_ p: Prediction, names: [String], topK: Int) -> String {
        let top = p.top(topK).map { i in
            "{\"class\": \(PythonFormat.jsonString(names[i], asciiOnly: false)), \"index\": \(i), \"prob\": \(PythonFormat.jsonNumber(p.probs[i]))}"
        }
        return String(PredictionOutput.json(p, names: names).dropLast()) + ", \"top_k\": [" + top.joined(separator: ", ") + "]}"
    }

    // MARK: GET /v1/model

    func modelJSON() -> String {
        let t = model.transform
        func list(_ v: [Float]) -> String { "[" + v.map(PythonFormat.jsonNumber).joined(separator: ", ") + "]" }
        let s = PythonFormat.jsonString
        let limits = configuration.limits
        let (ws, wa) = limits.maxWait.components
        return "{\"architecture\": \(s(model.architecture, true)), \"num_classes\": \(model.classNames.count), "
            + "\"classes\": [\(model.classNames.map { s($0, false) }.joined(separator: ", "))], "
            + "\"eval_transform\": {\"resize\": \(t.resize), \"crop\": \(t.crop), \"interpolation\": \(s(t.interpolation.rawValue, true)), "
            + "\"mean\": \(list(t.normalization.mean)), \"std\": \(list(t.normalization.std))}, "
            + "\"precision\": \(s(model.precision, true)), \"conv\": \(s(model.conv, true)), \"tta\": \(s(model.tta, true)), "
            + "\"weights\": {\"path\": \(s(model.weightsPath, false)), \"name\": \(model.weightsName.map { s($0, false) } ?? "null"), "
            + "\"class_indices\": \(model.classIndices.map { s($0, false) } ?? "null")}, "
            + "\"batching\": {\"max_batch\": \(limits.maxBatch), \"max_wait_ms\": \(Double(ws) * 1000 + Double(wa) * 1e-15), "
            + "\"max_queue\": \(limits.maxQueue)}}"
    }
}

/// The outermost middleware: every answer's metrics, the bearer token where one is set, and
/// every error as JSON (`{"error", "detail"}`), those of Hummingbird (404) and NIO included.
struct AnswerMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServeMetrics
    let apiKey: [UInt8]?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            try authorize(request)
            response = try await next(request, context)
        } catch {
            response = try Self.jsonError(error).response(from: request, context: context)
        }
        metrics.request(route: context.endpointPath ?? "NotFound", status: Int(response.status.code), duration: ContinuousClock.now - start)
        return response
    }

    private func authorize(_ request: Request) throws {
        guard let key = apiKey, !["/healthz", "/readyz"].contains(request.uri.path) else { return }
        let given = request.headers[.authorization].map { Array($0.utf8) } ?? []
        let expected = Array("Bearer ".utf8) + key
        guard Self.constantTimeEqual(given, expected) else {
            throw APIError(status: .unauthorized, error: "unauthorized",
                           detail: "this server needs its API key: send the header Authorization: Bearer <key> (--api-key-file)",
                           headers: [.wwwAuthenticate: "Bearer"])
        }
    }

    /// Equal bytes, in a time that depends on the lengths only.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0 && a.count == b.count
    }

    static func jsonError(_ error: Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case is NIOTooManyBytesError: return APIError(status: .contentTooLarge, error: "body too large", detail: "the body is larger than --max-body")
        case let e as HTTPError:
            return APIError(status: e.status, error: e.status.reasonPhrase.lowercased(),
                            detail: e.status == .notFound ? "no such route: the routes are POST /v1/predict, GET /v1/model, /healthz, /readyz, /metrics"
                                : (e.body ?? e.status.reasonPhrase))
        case let e as any HTTPResponseError:
            return APIError(status: e.status, error: e.status.reasonPhrase.lowercased(), detail: "\(e)")
        default:
            return APIError(status: .internalServerError, error: "internal error", detail: "\(error)")
        }
    }
}
