import TestSupport
import Foundation
import XCTest
@testable import Hub

/// The `mkdir`/`curl` lines `--offline` suggests run as printed, whatever TORCH_HOME holds:
/// each word reaches the command whole, and nothing else runs.
final class OfflineSuggestionTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = Scratch.root.appendingPathComponent("OfflineSuggestion-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// The suggested lines of `message` run by /bin/sh with `mkdir` and `curl` replaced by
    /// functions that print their arguments, one `[word]` each: what each command would get.
    private func run(_ message: String) throws -> String {
        guard let start = message.range(of: "for example:\n"),
              let end = message.range(of: "\nor run once without", range: start.upperBound..<message.endIndex) else {
            XCTFail("no example in: \(message)")
            return ""
        }
        let lines = String(message[start.upperBound..<end.lowerBound])
        let script = "mkdir() { printf 'mkdir'; printf ' [%s]' \"$@\"; echo; }\n"
            + "curl() { printf 'curl'; printf ' [%s]' \"$@\"; echo; }\n" + lines + "\n"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.currentDirectoryURL = dir
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    func testHostileTorchHomesReachTheCommandsWhole() throws {
        let url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
        let hostile = [
            "/tmp/it's here", "/tmp/x'; touch PWNED; echo '", "/tmp/$(touch PWNED)", "/tmp/`touch PWNED`",
            "/tmp/a b  c", "/tmp/line\nbreak", "/tmp/\"dq\"\\back", "/tmp/'", "/tmp/''; touch PWNED #",
        ]
        let marker = dir.appendingPathComponent("PWNED").path
        for home in hostile {
            try? FileManager.default.removeItem(atPath: marker)
            let folder = home + "/hub/checkpoints"
            let message = HubError.offline(file: "resnet18-f37072fd.pth", url: url, folder: folder).description
            let ran = try run(message)
            XCTAssertEqual(ran, "mkdir [-p] [\(folder)]\ncurl [-L] [-o] [\(folder)/resnet18-f37072fd.pth] [\(url)]\n",
                           "TORCH_HOME \(home.debugDescription) in: \(message)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "TORCH_HOME \(home.debugDescription) ran a command: \(message)")
        }
    }

    func testAHostileMirrorURLReachesCurlWhole() throws {
        let url = "http://mirror.example/m'$(touch PWNED)'/resnet18-f37072fd.pth"
        let message = HubError.offline(file: "resnet18-f37072fd.pth", url: url, folder: "/cache").description
        XCTAssertEqual(try run(message), "mkdir [-p] [/cache]\ncurl [-L] [-o] [/cache/resnet18-f37072fd.pth] [\(url)]\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("PWNED").path))
    }

    func testShellQuoting() {
        XCTAssertEqual(ShellQuote.quote("plain/path"), "'plain/path'")
        XCTAssertEqual(ShellQuote.quote("it's"), "'it'\\''s'")
        XCTAssertEqual(ShellQuote.quote(""), "''")
    }
}
