import CLISupport
import Foundation
import TestSupport
import XCTest

/// Every command's `--version` (the version and the commit the build was made from), its shell
/// completion scripts and the help that its man page is generated from. (`make man-check`, run
/// by `make test`, generates the man pages themselves with swift-argument-parser's plugin, which
/// cannot run inside `swift test`: it builds the package.)
final class VersionAndCompletionTests: XCTestCase {
    /// The repository: Tests/CLISupportTests/<this file>, two folders up.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The commands `make install` installs (the Makefile's TOOLS: a new command is one word
    /// there, and checked here too), and demo_data.
    static func commands() throws -> [String] {
        let makefile = try String(contentsOf: root.appendingPathComponent("Makefile"), encoding: .utf8)
        let line = try XCTUnwrap(makefile.split(separator: "\n").first { $0.hasPrefix("TOOLS = ") }, "the Makefile's TOOLS")
        let tools = line.dropFirst("TOOLS = ".count).split(separator: " ").map(String.init)
        XCTAssertTrue(Set(["finetune", "predict", "batch_predict", "evaluate", "inspect_weights"]).isSubset(of: tools), "\(tools)")
        return tools + ["demo_data"]
    }

    /// The commit `make` recorded for this build (Sources/CBuildInfo/build_commit.c), or nil
    /// for a build that did not go through make.
    static func recordedCommit() throws -> String? {
        let file = root.appendingPathComponent("Sources/CBuildInfo/build_commit.c")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        let quoted = try XCTUnwrap(text.range(of: #"return "[^"]*""#, options: .regularExpression), text)
        let value = text[quoted].dropFirst("return \"".count).dropLast()
        return value.isEmpty ? nil : String(value)
    }

    func testEveryCommandPrintsItsVersionAndCommit() throws {
        let commit = try Self.recordedCommit()
        for command in try Self.commands() {
            let r = try ProcessRun.run(try ProcessRun.executable(command), ["--version"])
            XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
            XCTAssertEqual(r.stdout, "\(command) \(GraftVersion.number) (commit \(commit ?? "unknown"))\n", command)
        }
        XCTAssertNotNil(GraftVersion.number.range(of: #"^\d+\.\d+\.\d+$"#, options: .regularExpression))
    }

    /// What `make` records: the checkout's commit, abbreviated as git does, `-dirty` after it
    /// when the work tree has changes; never committed (ignored by git), so the tree stays clean.
    /// In CI (a fresh clone, `make test`) it is HEAD; elsewhere a commit of HEAD's history, as
    /// a later commit leaves the one make recorded until make runs again (a plain `swift test`
    /// after a commit, or a tree shared with others who commit).
    func testTheRecordedCommitIsTheCheckoutsAndIgnoredByGit() throws {
        guard let commit = try Self.recordedCommit() else {
            throw XCTSkip("built without make (a plain swift build): the commands say 'commit unknown', which the test above checks")
        }
        guard let git = ["/usr/bin/git", "/usr/local/bin/git"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("no git")
        }
        let head = try ProcessRun.run(URL(fileURLWithPath: git), ["-C", Self.root.path, "rev-parse", "HEAD"])
        guard head.status == 0 else { throw XCTSkip("not a git checkout: \(head.stderr)") }
        let hash = commit.hasSuffix("-dirty") ? String(commit.dropLast("-dirty".count)) : commit
        XCTAssertGreaterThanOrEqual(hash.count, 7, commit)
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTAssertTrue(head.stdout.hasPrefix(hash), "recorded \(commit), HEAD is \(head.stdout)")
        } else {
            let ancestor = try ProcessRun.run(URL(fileURLWithPath: git), ["-C", Self.root.path, "merge-base", "--is-ancestor", hash, "HEAD"])
            XCTAssertEqual(ancestor.status, 0, "recorded \(commit), not in HEAD's history (\(head.stdout)): \(ancestor.stderr)")
        }
        let ignored = try ProcessRun.run(URL(fileURLWithPath: git), ["-C", Self.root.path, "check-ignore", "-q", "Sources/CBuildInfo/build_commit.c"])
        XCTAssertEqual(ignored.status, 0, "build_commit.c must be ignored by git")
    }

    func testEveryCommandGeneratesItsCompletionScripts() throws {
        for command in try Self.commands() {
            let exe = try ProcessRun.executable(command)
            for shell in ["bash", "zsh", "fish"] {
                let r = try ProcessRun.run(exe, ["--generate-completion-script", shell])
                XCTAssertEqual(r.status, 0, "\(command) \(shell): \(r.stderr)")
                XCTAssertTrue(r.stdout.contains(command), "\(command) \(shell)")
                XCTAssertTrue(r.stdout.contains("version"), "\(command) \(shell): completes --version")
                XCTAssertGreaterThan(r.stdout.count, 500, "\(command) \(shell)")
            }
            // The options a person types most are completed.
            let bash = try ProcessRun.run(exe, ["--generate-completion-script", "bash"]).stdout
            for option in command == "finetune" ? ["--weights", "--classes", "--epochs", "--verbose", "--resume"]
                        : command == "predict" || command == "batch_predict" || command == "evaluate" ? ["--weights", "--verbose", "--conv"]
                        : [] {
                XCTAssertTrue(bash.contains(option), "\(command): \(option)")
            }
        }
    }

    /// generate-manual reads `--experimental-dump-help`: it must describe each command.
    func testEveryCommandDescribesItselfForItsManPage() throws {
        for command in try Self.commands() {
            let r = try ProcessRun.run(try ProcessRun.executable(command), ["--experimental-dump-help"])
            XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
            let json = try ExactJSON.object(with: Data(r.stdout.utf8)) as? [String: Any]
            let cmd = try XCTUnwrap(json?["command"] as? [String: Any], command)
            XCTAssertEqual(cmd["commandName"] as? String, command)
            XCTAssertFalse((cmd["abstract"] as? String ?? "").isEmpty, command)
            XCTAssertFalse((cmd["arguments"] as? [Any] ?? []).isEmpty, command)
        }
    }
}
