import Foundation
import Hummingbird
import Imaging
import Inference
@testable import ServeCommand
import TestSupport
import XCTest

/// `graft serve` over real sockets: its answers against predict's, every status it promises,
/// dynamic batching, admission, readiness, draining, the API key and hostile bodies.
final class ServeTests: XCTestCase {
    static let weights = FixturePaths.path("vgg/predict/tiny_vgg11_bn.pth")
    static let classIndices = FixturePaths.path("vgg/predict/class_indices.json")

    /// One image as the body answers exactly what `predict --json` prints for it (plus top_k);
    /// multipart answers an array in part order; PNG too.
    func testPredictAnswersWhatPredictPrints() async throws {
        let predictor = try Predictor(weights: Self.weights, classIndices: Self.classIndices)
        var config = ServeConfiguration()
        config.port = 0
        let server = PredictionServer(configuration: config,
                                      model: ServedModel(architecture: predictor.model.name, classNames: predictor.classNames,
                                                         transform: predictor.transform, precision: "f32", conv: "direct", tta: "none",
                                                         weightsPath: Self.weights, weightsName: nil, classIndices: Self.classIndices),
                                      batcher: Serve.batcher(for: predictor, limits: config.limits))
        let running = TestServer(server)
        try await running.start()
        let port = running.port

        let reference = try Predictor(weights: Self.weights, classIndices: Self.classIndices)
        let images = ["images/src/jpeg_420.jpg", "images/src/png_interlaced.png"]
        var expected: [String: Prediction] = [:]
        try reference.predict(paths: images.map(FixturePaths.path), batchSize: 1) { path, result in
            expected[path] = try? result.get()
        }
        for image in images {
            let p = try XCTUnwrap(expected[FixturePaths.path(image)])
            let r = try await onThread { try RawHTTP.post(port, "/v1/predict?top_k=2", type: image.hasSuffix("png") ? "image/png" : "image/jpeg",
                                                          body: try fixtureBytes(image)) }
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssertEqual(r.headers["content-type"], "application/json")
            // The same text as predict --json's line, but for the image's name and top_k.
            let printed = PredictionOutput.json(Prediction(image: "body", probs: p.probs), names: predictor.classNames)
            XCTAssertTrue(r.text.hasPrefix(String(printed.dropLast()) + ", \"top_k\": ["), "\(r.text)\nvs\n\(printed)")
            let object = try XCTUnwrap(r.json() as? [String: Any])
            let top = try XCTUnwrap(object["top_k"] as? [[String: Any]])
            XCTAssertEqual(top.map { $0["index"] as? Int }, p.top(2).map { $0 })
            XCTAssertEqual(top.first?["class"] as? String, predictor.classNames[p.index])
        }

        // Two parts, one batch: an array in part order, each within 1e-6 of predict's.
        let form = RawHTTP.multipart([("image", "a.jpg", try fixtureBytes(images[0])), ("image", "b.png", try fixtureBytes(images[1])),
                                      ("note", nil, Array("ignored".utf8))])
        let r = try await onThread { try RawHTTP.post(port, type: form.type, body: form.body) }
        XCTAssertEqual(r.status, 200, r.text)
        let array = try XCTUnwrap(r.json() as? [[String: Any]])
        XCTAssertEqual(array.map { $0["image"] as? String }, ["a.jpg", "b.png"])
        for (object, image) in zip(array, images) {
            let want = try XCTUnwrap(expected[FixturePaths.path(image)]).probs
            let got = try XCTUnwrap(object["probs"] as? [Double]).map(Float.init)
            XCTAssertEqual(got.count, want.count)
            XCTAssertLessThanOrEqual(maxAbsDifference(got, want), 1e-6)
            XCTAssertEqual((object["top_k"] as? [Any])?.count, 5, "top_k defaults to 5 (of 5 classes)")
        }

        let model = try await onThread { try RawHTTP.request(port, "GET", "/v1/model") }
        let description = try XCTUnwrap(model.json() as? [String: Any])
        XCTAssertEqual(description["architecture"] as? String, "vgg11_bn")
        XCTAssertEqual(description["classes"] as? [String], predictor.classNames)
        XCTAssertEqual((description["eval_transform"] as? [String: Any])?["crop"] as? Int, 224)
        XCTAssertEqual((description["weights"] as? [String: Any])?["path"] as? String, Self.weights)
        try await running.stop()
    }

    /// Every refusal is JSON `{"error", "detail"}` with its status, and the server goes on serving.
    func testEveryErrorIsJSONWithItsStatus() async throws {
        let stub = StubModel()
        let running = TestServer(stub.server { $0.maxBody = 64 << 10; $0.readTimeout = .seconds(1) })
        try await running.start()
        let port = running.port
        let jpeg = try fixtureBytes("images/src/jpeg_256.jpg")
        let big = [UInt8](repeating: 7, count: 70_000)
        let cases: [(String, Int, String, @Sendable () throws -> RawResponse)] = [
            ("garbage", 400, "not a JPEG or PNG", { try RawHTTP.post(port, type: "image/jpeg", body: Array("hello".utf8)) }),
            ("truncated JPEG", 400, "damaged or truncated", { try RawHTTP.post(port, type: "image/jpeg", body: Array(jpeg.prefix(jpeg.count / 2))) }),
            ("GIF", 400, "GIF images are not supported", { try RawHTTP.post(port, type: "image/png", body: try fixtureBytes("images/src/bad_gif.gif")) }),
            ("empty body", 400, "not a JPEG or PNG", { try RawHTTP.post(port, type: "image/jpeg", body: []) }),
            ("top_k", 400, "top_k", { try RawHTTP.post(port, "/v1/predict?top_k=zero", type: "image/jpeg", body: jpeg) }),
            ("top_k 0", 400, "top_k", { try RawHTTP.post(port, "/v1/predict?top_k=0", type: "image/jpeg", body: jpeg) }),
            ("no boundary", 400, "boundary", { try RawHTTP.post(port, type: "multipart/form-data", body: Array("--x\r\n".utf8)) }),
            ("no image part", 400, "no part named image", {
                let f = RawHTTP.multipart([("file", "a.jpg", jpeg)])
                return try RawHTTP.post(port, type: f.type, body: f.body)
            }),
            ("truncated multipart", 400, "truncated", {
                let f = RawHTTP.multipart([("image", "a.jpg", jpeg)])
                return try RawHTTP.post(port, type: f.type, body: Array(f.body.prefix(f.body.count - 40)))
            }),
            ("bad part", 400, "part 2 (b.jpg)", {
                let f = RawHTTP.multipart([("image", "a.jpg", jpeg), ("image", "b.jpg", Array("nope".utf8))])
                return try RawHTTP.post(port, type: f.type, body: f.body)
            }),
            ("too large", 413, "--max-body", { try RawHTTP.post(port, type: "image/jpeg", body: big) }),
            ("too large, chunked", 413, "--max-body", {
                let fd = try RawHTTP.connect(port)
                defer { close(fd) }
                RawHTTP.send(fd, Array("POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n".utf8))
                for _ in 0..<40 { RawHTTP.send(fd, Array("7d0\r\n".utf8) + [UInt8](repeating: 1, count: 2000) + Array("\r\n".utf8)) }
                RawHTTP.send(fd, Array("0\r\n\r\n".utf8))
                return try XCTUnwrap(RawHTTP.read(fd))
            }),
            ("text", 415, "not an image", { try RawHTTP.post(port, type: "text/plain", body: Array("hi".utf8)) }),
            ("form", 415, "--data-binary", { try RawHTTP.post(port, type: "application/x-www-form-urlencoded", body: jpeg) }),
            ("route", 404, "no such route", { try RawHTTP.request(port, "GET", "/v2/predict") }),
            ("method", 404, "no such route", { try RawHTTP.request(port, "GET", "/v1/predict") }),
            ("slow body", 408, "--read-timeout", {
                let fd = try RawHTTP.connect(port)
                defer { close(fd) }
                RawHTTP.send(fd, Array("POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100\r\n\r\nabc".utf8))
                return try XCTUnwrap(RawHTTP.read(fd))
            }),
        ]
        for (name, status, detail, send) in cases {
            let r = try await onThread(send)
            XCTAssertEqual(r.status, status, "\(name): \(r.text)")
            XCTAssertEqual(r.headers["content-type"], "application/json", name)
            let object = try XCTUnwrap(r.json() as? [String: Any], "\(name): \(r.text)")
            XCTAssertNotNil(object["error"] as? String, name)
            XCTAssertTrue((object["detail"] as? String ?? "").contains(detail), "\(name): \(r.text)")
        }
        // Still serving, and every answer counted.
        let ok = try await onThread { try RawHTTP.post(port, type: nil, body: jpeg) }
        XCTAssertEqual(ok.status, 200, ok.text)
        let metrics = try await onThread { try RawHTTP.request(port, "GET", "/metrics") }.text
        XCTAssertTrue(metrics.contains("graft_http_requests_total{route=\"/v1/predict\",status=\"400\"} 10"), metrics)
        XCTAssertTrue(metrics.contains("graft_http_requests_total{route=\"/v1/predict\",status=\"200\"} 1"), metrics)
        XCTAssertTrue(metrics.contains("graft_http_requests_total{route=\"NotFound\",status=\"404\"} 2"), metrics)
        try await running.stop()
    }

    /// Requests that arrive together share a batch, up to --max-batch; a batch of n runs as the
    /// prepared powers of two.
    func testRequestsShareBatches() async throws {
        let stub = StubModel()
        let running = TestServer(stub.server { $0.limits = .init(maxBatch: 4, maxWait: .seconds(1), maxQueue: 64) })
        try await running.start()
        let warm = stub.batchSizes
        XCTAssertEqual(warm, [4, 2, 1], "the warm-up runs each prepared size once")
        let port = running.port
        let jpeg = try fixtureBytes("images/src/jpeg_256.jpg")
        let answers = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<7 { group.addTask { try await onThread { try RawHTTP.post(port, type: "image/jpeg", body: jpeg) }.status } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(answers, [Int](repeating: 200, count: 7))
        let batches = Array(stub.batchSizes.dropFirst(warm.count))
        // 7 images in batches of at most 4, each run as powers of two: 4, then 2 + 1.
        XCTAssertEqual(batches.reduce(0, +), 7)
        XCTAssertTrue(batches.allSatisfy { [1, 2, 4].contains($0) }, "\(batches)")
        XCTAssertLessThanOrEqual(batches.count, 4, "7 requests within 1 s should fill batches, got \(batches)")
        let metrics = try await onThread { try RawHTTP.request(port, "GET", "/metrics") }.text
        XCTAssertTrue(metrics.contains("graft_images_total 7"), metrics)
        XCTAssertTrue(metrics.contains("graft_batch_size_images_count"), metrics)
        try await running.stop()

        let batcher = InferenceBatcher(limits: .init(maxBatch: 24), floatsPerImage: 1, roomPerImage: 1, classes: 1) { _, _ in [] }
        XCTAssertEqual(batcher.preparedSizes, [16, 8, 4, 2, 1])
        XCTAssertEqual(batcher.decompose(24), [16, 8])
        XCTAssertEqual(batcher.decompose(13), [8, 4, 1])
        XCTAssertEqual(batcher.decompose(1), [1])
    }

    /// A full queue answers 429 at once, with Retry-After; what was admitted is answered.
    func testFullQueueAnswers429AtOnce() async throws {
        let gate = Gate()
        let stub = StubModel(gate: gate)
        let running = TestServer(stub.server { $0.limits = .init(maxBatch: 1, maxWait: .zero, maxQueue: 1) })
        try await running.start(waitReady: false)
        XCTAssertTrue(gate.awaitWaiting(1)); gate.release()       // the warm-up's batch
        _ = try await onThread { running.events.ready.wait(timeout: .now() + 30) }
        gate.close()
        let port = running.port
        let jpeg = try fixtureBytes("images/src/jpeg_256.jpg")
        // The first on the model (held at the gate), the second queued: the queue is full.
        let first = Task { try await onThread { try RawHTTP.post(port, type: "image/jpeg", body: jpeg) } }
        XCTAssertTrue(gate.awaitWaiting(1))
        let second = Task { try await onThread { try RawHTTP.post(port, type: "image/jpeg", body: jpeg) } }
        var queued = false
        for _ in 0..<200 where !queued { queued = running.server.batcher.depth == 1; if !queued { try await Task.sleep(for: .milliseconds(10)) } }
        XCTAssertTrue(queued)
        let refused = try await onThread { try RawHTTP.post(port, type: "image/jpeg", body: jpeg) }
        XCTAssertEqual(refused.status, 429, refused.text)
        XCTAssertEqual(refused.headers["retry-after"], "1")
        XCTAssertTrue(refused.text.contains("--max-queue 1"), refused.text)
        gate.release()
        let a = try await first.value, b = try await second.value
        XCTAssertEqual([a.status, b.status], [200, 200])
        try await running.stop()
    }

    /// Before the warm-up ends: /healthz 200, /readyz and predictions 503 with the reason.
    func testStartingAnswers503UntilWarm() async throws {
        let warmUp = Gate()
        let stub = StubModel()
        let running = TestServer(stub.server(warmUpGate: warmUp))
        try await running.start(waitReady: false)
        XCTAssertTrue(warmUp.awaitWaiting(1))
        let port = running.port
        let jpeg = try fixtureBytes("images/src/jpeg_256.jpg")
        let health = try await onThread { try RawHTTP.request(port, "GET", "/healthz") }
        XCTAssertEqual(health.status, 200)
        for r in [try await onThread { try RawHTTP.request(port, "GET", "/readyz") },
                  try await onThread { try RawHTTP.post(port, type: "image/jpeg", body: jpeg) }] {
            XCTAssertEqual(r.status, 503, r.text)
            XCTAssertEqual((try r.json() as? [String: Any])?["error"] as? String, "starting")
        }
        warmUp.release()
        _ = try await onThread { running.events.ready.wait(timeout: .now() + 30) }
        let ready = try await onThread { try RawHTTP.request(port, "GET", "/readyz") }
        XCTAssertEqual(ready.status, 200, ready.text)
        try await running.stop()
    }

    /// Graceful shutdown (SIGTERM's): what is queued is answered, new requests are not taken,
    /// and the server stops.
    func testShutdownAnswersWhatIsQueued() async throws {
        let gate = Gate(open: true)
        let stub = StubModel(gate: gate)
        let running = TestServer(stub.server { $0.limits = .init(maxBatch: 2, maxWait: .seconds(5), maxQueue: 8) })
        try await running.start()
        gate.close()
        let port = running.port
        let jpeg = try fixtureBytes("images/src/jpeg_256.jpg")
        // Three requests: two on the model (held), one waiting for a batch to fill.
        let requests = (0..<3).map { _ in Task { try await onThread { try RawHTTP.post(port, type: "image/jpeg", body: jpeg) } } }
        var admitted = false
        for _ in 0..<500 where !admitted {
            admitted = gate.waiting == 1 && running.server.batcher.depth == 1
            if !admitted { try await Task.sleep(for: .milliseconds(10)) }
        }
        XCTAssertTrue(admitted, "two on the model and one queued")
        let stopping = Task { try await running.stop() }
        var draining = false
        for _ in 0..<500 where !draining { draining = running.server.batcher.isDraining; if !draining { try await Task.sleep(for: .milliseconds(10)) } }
        XCTAssertTrue(draining)
        // A new request now: refused (503) or not accepted at all (the listener is closed).
        let late = try? await onThread { try RawHTTP.request(port, "GET", "/readyz") }
        if let late { XCTAssertEqual(late.status, 503, late.text) }
        gate.release()
        for r in requests {
            let answer = try await r.value
            XCTAssertEqual(answer.status, 200, answer.text)
        }
        try await stopping.value
    }

    /// With --api-key-file: every route but /healthz and /readyz asks for the bearer token.
    func testAPIKey() async throws {
        let key = Array("0123456789abcdef0123".utf8)
        let running = TestServer(StubModel().server { $0.apiKey = key })
        try await running.start()
        let port = running.port
        let jpeg = try fixtureBytes("images/src/jpeg_256.jpg")
        for headers in [[], [("Authorization", "Bearer wrong")], [("Authorization", "Bearer 0123456789abcdef012")],
                        [("Authorization", "0123456789abcdef0123")]] as [[(String, String)]] {
            let r = try await onThread { try RawHTTP.post(port, type: "image/jpeg", body: jpeg, headers: headers) }
            XCTAssertEqual(r.status, 401, r.text)
            XCTAssertEqual(r.headers["www-authenticate"], "Bearer")
            let m = try await onThread { try RawHTTP.request(port, "GET", "/metrics", headers: headers) }
            XCTAssertEqual(m.status, 401)
        }
        let ok = try await onThread { try RawHTTP.post(port, type: "image/jpeg", body: jpeg, headers: [("Authorization", "Bearer 0123456789abcdef0123")]) }
        XCTAssertEqual(ok.status, 200, ok.text)
        for path in ["/healthz", "/readyz"] {
            let r = try await onThread { try RawHTTP.request(port, "GET", path) }
            XCTAssertEqual(r.status, 200, path)
        }
        try await running.stop()

        XCTAssertTrue(AnswerMiddleware<BasicRequestContext>.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(AnswerMiddleware<BasicRequestContext>.constantTimeEqual([1, 2, 3], [1, 2]))
        XCTAssertFalse(AnswerMiddleware<BasicRequestContext>.constantTimeEqual([1, 2], [1, 2, 0]))
        XCTAssertFalse(AnswerMiddleware<BasicRequestContext>.constantTimeEqual([], [0]))
        XCTAssertTrue(AnswerMiddleware<BasicRequestContext>.constantTimeEqual([], []))
    }

    /// Garbage in every shape the multipart parser can meet answers 400 (never a crash, never a
    /// 500), with the server still serving; seeded, so a failure repeats.
    func testHostileMultipartBodies() throws {
        let jpeg = try fixtureBytes("images/src/jpeg_256.jpg")
        let good = RawHTTP.multipart([("image", "a.jpg", Array(jpeg.prefix(300))), ("image", nil, Array(jpeg.prefix(200)))], boundary: "b0und")
        var state: UInt64 = 20261207
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        var parsed = 0
        for round in 0..<3000 {
            var body = good.body
            switch round % 4 {
            case 0: body = Array(body.prefix(next() % (body.count + 1)))                    // truncated anywhere
            case 1: for _ in 0..<(1 + next() % 8) { body[next() % body.count] = UInt8(next() % 256) }   // bytes flipped
            case 2: body.insert(contentsOf: Array("--b0und\r\n".utf8), at: next() % body.count)         // stray boundaries
            default: body = (0..<(next() % 600)).map { _ in UInt8(next() % 256) }           // noise
            }
            do {
                let uploads = try PredictionServer.parts(ByteBuffer(bytes: body), boundary: "b0und", limit: 8)
                XCTAssertFalse(uploads.isEmpty)
                XCTAssertLessThanOrEqual(uploads.count, 8)
                parsed += 1
            } catch let e as APIError {
                XCTAssertTrue([400, 413].contains(Int(e.status.code)), "\(e)")
            }
        }
        XCTAssertGreaterThan(parsed, 0, "some mutations still parse (the unchanged parts)")
        // Boundaries and names as clients send them.
        XCTAssertEqual(PredictionServer.mediaType("multipart/form-data; boundary=\"a b\"").boundary, "a b")
        XCTAssertEqual(PredictionServer.mediaType("Multipart/Form-Data;charset=utf-8; BOUNDARY=xyz").type, "multipart/form-data")
        XCTAssertEqual(PredictionServer.mediaType("Multipart/Form-Data;charset=utf-8; BOUNDARY=xyz").boundary, "xyz")
        XCTAssertNil(PredictionServer.mediaType(nil).type)
        for bad in ["", String(repeating: "x", count: 71), "a\u{7f}b", "ends in space ", "é"] {
            XCTAssertThrowsError(try PredictionServer.parts(ByteBuffer(bytes: good.body), boundary: bad, limit: 8), bad)
        }
        XCTAssertThrowsError(try PredictionServer.parts(ByteBuffer(bytes: good.body), boundary: nil, limit: 8))
        XCTAssertThrowsError(try PredictionServer.parts(ByteBuffer(bytes: good.body), boundary: "b0und", limit: 1)) { error in
            XCTAssertEqual((error as? APIError)?.status.code, 413)
        }
        // --api-key-file as people get it wrong: missing, empty, short, two words; a trailing newline is fine.
        let keys = Scratch.root.appendingPathComponent("graft-serve-keys-\(getpid())")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: keys) }
        for (name, text, ok) in [("good", "0123456789abcdef0123\n", true), ("empty", "", false), ("short", "abc123", false),
                                 ("words", "0123456789 abcdef0123", false), ("lines", "0123456789abcdef\n0123456789abcdef", false)] {
            let file = keys.appendingPathComponent(name).path
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            if ok { XCTAssertEqual(try Serve.apiKey(file), Array("0123456789abcdef0123".utf8)) } else { XCTAssertThrowsError(try Serve.apiKey(file), name) }
        }
        XCTAssertThrowsError(try Serve.apiKey(keys.appendingPathComponent("missing").path))
        // The decoder's reasons, as a client reads them: in the message, without the path.
        for e in [ImagingError.unknownFormat(path: "body"), .corrupt(path: "body", format: "JPEG", reason: "x"),
                  .unsupportedFormat(path: "body", format: "gif"), .badDimensions(path: "body", width: 0, height: 1)] {
            XCTAssertTrue(e.description.hasPrefix("body: " + e.reason), e.description)
            XCTAssertFalse(e.reason.contains("body"))
        }
        XCTAssertEqual(Serve.bytes("20MB"), 20 << 20)
        XCTAssertEqual(Serve.bytes("512kb"), 512 << 10)
        XCTAssertEqual(Serve.bytes("1048576"), 1 << 20)
        XCTAssertNil(Serve.bytes("0"))
        XCTAssertNil(Serve.bytes("-1MB"))
        XCTAssertNil(Serve.bytes("lots"))
        XCTAssertNil(Serve.bytes("99999999999GB"))
    }

    /// The process: SIGTERM answers what it holds, then exits 0; the port is free after.
    func testSIGTERMDrainsTheProcess() async throws {
        let graft = try ProcessRun.executable("graft")
        let process = Process()
        process.executableURL = graft
        process.arguments = ["serve", "--weights", Self.weights, "--class-indices", Self.classIndices, "--port", "0", "--max-wait-ms", "10000"]
        process.environment = ProcessInfo.processInfo.environment.merging(["GRAFT_CONV_CACHE": "off"]) { $1 }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let lines = LineReader(out.fileHandleForReading)
        let listening = try XCTUnwrap(lines.next(timeout: 60), "no line from graft serve")
        let port = try XCTUnwrap(Int(listening.split(separator: ":").last ?? ""), listening)
        XCTAssertTrue(try XCTUnwrap(lines.next(timeout: 60)).contains("ready"))
        let jpeg = try fixtureBytes("images/src/jpeg_420.jpg")
        let requests = (0..<3).map { _ in Task { try await onThread { try RawHTTP.post(port, type: "image/jpeg", body: jpeg) } } }
        // All three admitted, waiting for a batch to fill (10 s), as /metrics tells.
        var waiting = false
        for _ in 0..<400 where !waiting {
            waiting = try await onThread { try RawHTTP.request(port, "GET", "/metrics") }.text.contains("graft_queue_depth_images 3.0")
            if !waiting { try await Task.sleep(for: .milliseconds(20)) }
        }
        XCTAssertTrue(waiting, "three requests queued")
        let start = Date()
        kill(process.processIdentifier, SIGTERM)
        for r in requests {
            let answer = try await r.value
            XCTAssertEqual(answer.status, 200, answer.text)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "draining runs what is queued at once, without waiting for the batch to fill")
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(lines.next(timeout: 5), "graft serve: drained, stopped")
        XCTAssertThrowsError(try RawHTTP.request(port, "GET", "/healthz"), "nothing listens after the exit")
    }
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    var worst: Float = 0
    for (x, y) in zip(a, b) {
        let d = abs(x - y)
        if d.isNaN { return .infinity }
        worst = max(worst, d)
    }
    return worst
}

/// Lines of a child's output, with a time limit each.
final class LineReader: @unchecked Sendable {
    private let lock = NSCondition()
    private var buffer: [UInt8] = []
    private var ended = false

    init(_ handle: FileHandle) {
        Thread { [self] in
            while true {
                let data = handle.availableData
                lock.lock()
                if data.isEmpty { ended = true } else { buffer += data }
                lock.broadcast()
                lock.unlock()
                if data.isEmpty { return }
            }
        }.start()
    }

    func next(timeout: TimeInterval) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock(); defer { lock.unlock() }
        while true {
            if let i = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[0..<i], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return line
            }
            if ended || !lock.wait(until: deadline) { return nil }
        }
    }
}
