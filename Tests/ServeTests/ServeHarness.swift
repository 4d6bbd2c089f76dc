import Foundation
import Hummingbird
import Imaging
import Logging
import ServiceLifecycle
@testable import ServeCommand
import TestSupport
import XCTest

/// One HTTP answer, as read off the socket.
struct RawResponse {
    let status: Int
    let headers: [String: String]
    let body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    func json() throws -> Any { try ExactJSON.object(with: Data(body)) }
}

/// A client over a plain socket: the tests control every byte (truncated bodies, slow clients,
/// garbage), and each call blocks a thread of its own, never Swift's cooperative ones.
enum RawHTTP {
    enum Failure: Error { case connect(Int32), closedBeforeAnswer(String) }

    static func connect(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { let e = errno; close(fd); throw Failure.connect(e) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// Reads one answer (its Content-Length), or nil when the server closed without one.
    static func read(_ fd: Int32) -> RawResponse? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var length = 0
        while true {
            if let end = headerEnd, data.count >= end + length { break }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            data += buffer[0..<n]
            if headerEnd == nil, let r = find([13, 10, 13, 10], in: data) {
                headerEnd = r + 4
                let head = String(decoding: data[0..<r], as: UTF8.self)
                for line in head.split(separator: "\r\n").dropFirst() {
                    let kv = line.split(separator: ":", maxSplits: 1)
                    if kv.count == 2, kv[0].lowercased() == "content-length" { length = Int(kv[1].trimmingCharacters(in: .whitespaces)) ?? 0 }
                }
            }
        }
        guard let end = headerEnd else { return nil }
        let head = String(decoding: data[0..<(end - 4)], as: UTF8.self).split(separator: "\r\n")
        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            let kv = line.split(separator: ":", maxSplits: 1)
            if kv.count == 2 { headers[kv[0].lowercased()] = kv[1].trimmingCharacters(in: .whitespaces) }
        }
        return RawResponse(status: status, headers: headers, body: Array(data[end..<min(data.count, end + length)]))
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }

    /// One request on a connection of its own (closed after).
    static func request(_ port: Int, _ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) throws -> RawResponse {
        let fd = try connect(port)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        send(fd, Array((head + "\r\n").utf8) + body)
        guard let r = read(fd) else { throw Failure.closedBeforeAnswer("\(method) \(path)") }
        return r
    }

    static func post(_ port: Int, _ path: String = "/v1/predict", type: String?, body: [UInt8], headers: [(String, String)] = []) throws -> RawResponse {
        try request(port, "POST", path, headers: (type.map { [("Content-Type", $0)] } ?? []) + headers, body: body)
    }

    /// A multipart/form-data body of `parts` (name, filename, bytes).
    static func multipart(_ parts: [(String, String?, [UInt8])], boundary: String = "graftTestBoundary42") -> (type: String, body: [UInt8]) {
        var body: [UInt8] = []
        for (name, filename, bytes) in parts {
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\""
            if let filename { head += "; filename=\"\(filename)\"" }
            head += "\r\nContent-Type: application/octet-stream\r\n\r\n"
            body += Array(head.utf8) + bytes + Array("\r\n".utf8)
        }
        body += Array("--\(boundary)--\r\n".utf8)
        return ("multipart/form-data; boundary=\(boundary)", body)
    }
}

/// Runs `body` on a thread of its own and awaits it.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in Thread { c.resume(with: Result { try body() }) }.start() }
}

/// A gate the stub model waits at until the test opens it.
final class Gate: @unchecked Sendable {
    private let lock = NSCondition()
    private var open: Bool
    private(set) var waiting = 0
    init(open: Bool = false) { self.open = open }
    func pass() {
        lock.lock(); waiting += 1; lock.broadcast()
        while !open { lock.wait() }
        waiting -= 1; lock.unlock()
    }
    func release() { lock.lock(); open = true; lock.broadcast(); lock.unlock() }
    func close() { lock.lock(); open = false; lock.unlock() }
    /// Waits until `n` are waiting at the gate (10 s at most).
    func awaitWaiting(_ n: Int) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        lock.lock(); defer { lock.unlock() }
        while waiting < n { if !lock.wait(until: deadline) { return false } }
        return true
    }
}

/// A server on a free loopback port, run as `graft serve` runs it but for the signals.
final class TestServer: @unchecked Sendable {
    /// What the server's callbacks report.
    final class Events: @unchecked Sendable {
        var port = 0
        let listening = DispatchSemaphore(value: 0)
        let ready = DispatchSemaphore(value: 0)
    }

    let server: PredictionServer
    let group: ServiceGroup
    let events = Events()
    var port: Int { events.port }
    private var task: Task<Void, Error>?

    init(_ server: PredictionServer) {
        self.server = server
        var logger = Logger(label: "graft-serve-test")
        logger.logLevel = .critical
        group = ServeRun.services(server, logger: logger, signals: false,
                                  onListening: { [events] port in events.port = port; events.listening.signal() },
                                  onReady: { [events] in events.ready.signal() })
    }

    /// Starts it; returns once it listens (and, with `waitReady`, has warmed up).
    func start(waitReady: Bool = true) async throws {
        let group = self.group, events = self.events
        task = Task { try await group.run() }
        let ok = try await onThread { events.listening.wait(timeout: .now() + 30) == .success }
        XCTAssertTrue(ok, "the server did not start listening")
        if waitReady {
            let ready = try await onThread { events.ready.wait(timeout: .now() + 60) == .success }
            XCTAssertTrue(ready, "the server did not warm up")
        }
    }

    /// Graceful shutdown, as SIGTERM does; returns when the group has stopped.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task?.value
    }
}

/// A three-class stub: probabilities from the image's mean (so that different images answer
/// differently), each batch size recorded, an optional gate before each batch.
final class StubModel: @unchecked Sendable {
    let transform = EvalTransform(resize: 8, crop: 8)
    let gate: Gate?
    private let lock = NSLock()
    private var sizes: [Int] = []
    var batchSizes: [Int] { lock.lock(); defer { lock.unlock() }; return sizes }

    init(gate: Gate? = nil) { self.gate = gate }

    var served: ServedModel {
        ServedModel(architecture: "stub", classNames: ["cat", "dog", "émeu"], transform: transform, precision: "f32", conv: "direct",
                    tta: "none", weightsPath: "/nowhere/stub.pth", weightsName: nil, classIndices: nil)
    }

    func server(_ configure: (inout ServeConfiguration) -> Void = { _ in }, warmUpGate: Gate? = nil) -> PredictionServer {
        var config = ServeConfiguration()
        config.port = 0
        configure(&config)
        let per = transform.tensorCount
        let batcher = InferenceBatcher(limits: config.limits, floatsPerImage: per, roomPerImage: per, classes: 3,
                                       prepare: { warmUpGate?.pass() }) { [self] images, count in
            lock.lock(); sizes.append(count); lock.unlock()
            gate?.pass()
            var probs: [Float] = []
            for i in 0..<count {
                let mean = images[(i * per)..<((i + 1) * per)].reduce(0, +) / Float(per)
                let a = 1 / (1 + exp(-mean))
                probs += [a * 0.5, a * 0.5, 1 - a]
            }
            return probs
        }
        return PredictionServer(configuration: config, model: served, batcher: batcher)
    }
}

func fixtureBytes(_ relative: String) throws -> [UInt8] {
    Array(try Data(contentsOf: FixturePaths.url(relative)))
}
