import Foundation
import TestSupport
import XCTest
@testable import FuzzHarness

/// Every input saved under `Fixtures/fuzz/<target>/` (a crash, hang or memory blow-up that
/// fuzzing found) is run through the same code as the fuzz target, by the plain build of the
/// target's executable, in its own process: with 3 GiB of address space and 10 s, it must
/// return, with an error or a result. A process per input keeps one finding from taking the
/// whole test run down and names the file that failed.
final class FuzzRegressionTests: XCTestCase {
    static let fixtures = FixturePaths.url("fuzz")

    static func executableName(_ target: FuzzTarget) -> String {
        switch target {
        case .checkpoint: return "FuzzCheckpoint"
        case .jpeg: return "FuzzJPEG"
        case .png: return "FuzzPNG"
        case .imagefolder: return "FuzzImageFolder"
        case .multipart: return "FuzzMultipart"
        }
    }

    override class func tearDown() {
        FuzzScratch.remove()
    }

    func testSavedFindingsReturn() throws {
        var ran = 0
        for target in FuzzTarget.allCases {
            let files = Self.inputs(target)
            guard !files.isEmpty else { continue }
            let exe = try Self.executable(target)
            for file in files {
                let (status, output) = try Self.replay(exe, file)
                ran += 1
                XCTAssert(status == 0, "\(target.rawValue): \(file.lastPathComponent) \(Self.describe(status)). "
                    + "Replay it: \(exe.path) \(file.path)\n\(output.suffix(1500))")
            }
        }
        print("replayed \(ran) saved fuzz findings")
    }

    /// The seeds `make fuzz` starts from pass through the harnesses (in this process), so a
    /// harness that rejects everything, or trips over a good file, is caught here.
    func testHarnessesAcceptFixtures() throws {
        let root = Self.fixtures.deletingLastPathComponent()
        for name in ["checkpoints/tiny_basic.pth", "checkpoints/tiny_basic_legacy.pth", "checkpoints/truncated_zip.pth"] {
            CheckpointHarness.run(try Self.bytes(root.appendingPathComponent(name)))
        }
        for name in ["jpeg_exif6.jpg", "jpeg_cmyk.jpg", "truncated.jpg"] {
            ImageHarness.run(try Self.bytes(root.appendingPathComponent("images/src/" + name)), only: .jpeg)
        }
        for name in ["png_exif6.png", "png_rgba16.png", "png_palette_trns.png"] {
            ImageHarness.run(try Self.bytes(root.appendingPathComponent("images/src/" + name)), only: .png)
        }
        ImageFolderHarness.run(Array("d train/a\nf train/a/1.jpg\nd train/b\nf train/b/2.png\nd val/a\nf val/a/3.jpg\nd val/b\nf val/b/4.JPG\n".utf8))
    }

    func testFolderScriptParses() {
        let script = FolderScript(Array("d a/b\nf a/b/x.jpg\nl a/b/up ../..\nl a/self .\nl a/down ./b/./x.jpg\nv 25\ns 7\n".utf8))
        XCTAssertEqual(script.ops, [
            .folder(["a", "b"]), .file(["a", "b", "x.jpg"]), .link(["a", "b", "up"], ups: 2, down: []),
            .link(["a", "self"], ups: 0, down: []), .link(["a", "down"], ups: 0, down: ["b", "x.jpg"]),
        ])
        XCTAssertEqual(script.valPercent, 25)
        XCTAssertEqual(script.seed, 7)
        // Paths never climb, targets never start at "/" or climb after a name.
        XCTAssertEqual(FolderScript(Array("d ../x\nf a/../b\nl a /etc\nl b x/../..\nd ok\n".utf8)).ops, [.folder(["ok"])])
        XCTAssertEqual(FolderScript(Array(String(repeating: "d a\n", count: 100).utf8)).ops.count, FolderScript.maxOps)
    }

    /// A link can climb no higher than the real folder it is made in: nothing outside the
    /// scratch tree is ever scanned, whatever the script.
    func testLinksStayInsideTheTree() throws {
        ImageFolderHarness.run(Array("l esc ..\nd a\nl a/esc ../..\nl a/up ..\nd a/up/x\nl a/up/x/e ../../..\n".utf8))
        let root = ImageFolderHarness.root
        let realRoot = try XCTUnwrap(ImageFolderHarness.realPath(root))
        XCTAssertNil(ImageFolderHarness.realPath(root + "/esc"), "a link out of the tree's root was made")
        XCTAssertNil(ImageFolderHarness.realPath(root + "/a/esc"), "a link two levels up from depth 1 was made")
        XCTAssertEqual(ImageFolderHarness.realPath(root + "/a/up"), realRoot)
        XCTAssertNil(ImageFolderHarness.realPath(root + "/x/e"), "a link three up from depth 1 (reached via a link) was made")
        XCTAssertTrue(ImageFolderHarness.isDirectory(root + "/x"))
    }

    static func describe(_ status: Int32) -> String {
        switch status {
        case 128 + SIGALRM: return "ran past \(FuzzReplay.timeoutSeconds) s"
        case 128 + SIGILL, 128 + SIGTRAP: return "stopped at a Swift runtime trap or a broken invariant"
        case 128 + SIGSEGV, 128 + SIGBUS: return "crashed with a memory fault (signal \(status - 128))"
        case 128 + SIGABRT: return "aborted (out of memory, or a C library's assertion)"
        case 128 + SIGTERM: return "hung and was killed after 30 s"
        default: return status > 128 ? "died of signal \(status - 128)" : "exited with status \(status)"
        }
    }

    static func inputs(_ target: FuzzTarget) -> [URL] {
        let dir = fixtures.appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted().map { dir.appendingPathComponent($0) }
    }

    static func bytes(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }

    /// The plain build of the target's executable, beside this test bundle.
    static func executable(_ target: FuzzTarget) throws -> URL {
        let dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let exe = dir.appendingPathComponent(executableName(target))
        guard FileManager.default.isExecutableFile(atPath: exe.path) else {
            throw XCTSkip("\(exe.path) is not built; run `swift build --build-tests` (make test does) first")
        }
        return exe
    }

    /// Runs the executable on one file; a hang past 30 s is killed (the child's own alarm
    /// fires at 10 s). The output goes to a file, so a chatty child never blocks on a pipe.
    static func replay(_ exe: URL, _ file: URL) throws -> (Int32, String) {
        let log = Scratch.root.appendingPathComponent("graft-fuzz-replay-\(getpid()).log")
        XCTAssertTrue(FileManager.default.createFile(atPath: log.path, contents: nil))
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = exe
        process.arguments = [file.path]
        // The error line, not the runtime's page of backtrace (replay by hand for that).
        // Its scratch files in a folder of ours, removed even when the child is killed.
        let scratch = Scratch.root.appendingPathComponent("graft-fuzz-replay-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["SWIFT_BACKTRACE": "enable=no", "TMPDIR": scratch.path]) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
        return (status, text)
    }
}
