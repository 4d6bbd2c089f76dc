import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Tests/HubTests/serve.py, started on a free loopback port for one test (see the script for
/// what it can do). Throws XCTSkip when python3 is not on PATH.
final class LoopbackServer {
    let port: Int
    let log: URL
    private let process: Process
    private let input: Pipe

    static let script: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("serve.py").path

    /// python3 on PATH, or nil.
    static func python3() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/python3"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Serves `root`; `cuts` maps a path to the bytes sent before its first request is cut off;
    /// `statuses` maps a path to the status every request of it gets (empty body, plus the
    /// `headers` given for that path as "Name:Value"); `stalls` maps a path to the bytes sent
    /// before the server goes silent with the connection open.
    init(root: URL, log: URL, cuts: [String: Int] = [:], ignoreRange: Bool = false, statuses: [String: Int] = [:],
         headers: [String: [String]] = [:], stalls: [String: Int] = [:]) throws {
        guard let python = Self.python3() else {
            throw XCTSkip("python3 is not on PATH: these tests need it for the loopback HTTP server (Tests/HubTests/serve.py)")
        }
        self.log = log
        guard FileManager.default.createFile(atPath: log.path, contents: Data()) else {
            throw XCTSkip("cannot create the request log \(log.path)")
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        var arguments = [Self.script, "--root", root.path, "--log", log.path]
        for (path, n) in cuts.sorted(by: { $0.key < $1.key }) { arguments += ["--cut", "\(path)=\(n)"] }
        if ignoreRange { arguments.append("--ignore-range") }
        for (path, code) in statuses.sorted(by: { $0.key < $1.key }) { arguments += ["--status", "\(path)=\(code)"] }
        for (path, list) in headers.sorted(by: { $0.key < $1.key }) {
            for h in list { arguments += ["--header", "\(path)=\(h)"] }
        }
        for (path, n) in stalls.sorted(by: { $0.key < $1.key }) { arguments += ["--stall", "\(path)=\(n)"] }
        process.arguments = arguments
        let output = Pipe()
        input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        var bytes = Data()
        while !bytes.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            bytes.append(chunk)
        }
        let first = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first ?? ""
        guard let port = Int(first.trimmingCharacters(in: .whitespaces)) else {
            process.terminate()
            throw XCTSkip("serve.py did not print its port (got '\(first)')")
        }
        self.port = port
    }

    func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

    /// The requests so far, one `GET <path> range=<Range or ->` per line.
    func requests() -> [String] {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    func stop() {
        if process.isRunning { process.terminate() }
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// A loopback port with nothing listening on it (bound, read back, closed).
    static func closedPort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        return ok ? Int(UInt16(bigEndian: addr.sin_port)) : nil
    }
}
