import Foundation
import Imaging
import TestSupport

/// A temporary folder for tests of hostile file names: folders and files made from raw bytes
/// (names that are not UTF-8 too), removed with `rm -rf` (Foundation cannot remove what it
/// cannot name).
struct RawNameFolder {
    let root: String

    init(_ label: String) throws {
        root = Scratch.root.path + "/graft-names-\(getpid())-\(label)"
        remove()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    /// `root/parts...`, each part's bytes as given, as a `PathBytes` string.
    func path(_ parts: [UInt8]...) -> String {
        PathBytes.string(Array(root.utf8) + parts.flatMap { [UInt8(ascii: "/")] + $0 })
    }

    func mkdir(_ path: String) {
        precondition(PathBytes.withCString(path) { Foundation.mkdir($0, 0o755) } == 0, "mkdir \(TerminalText.escaped(path))")
    }

    func write(_ path: String, _ bytes: [UInt8]) {
        let fd = PathBytes.withCString(path) { open($0, O_CREAT | O_WRONLY | O_TRUNC, 0o644) }
        precondition(fd >= 0, "create \(TerminalText.escaped(path))")
        _ = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// The bytes of a real fixture image (Fixtures/trainset/train/daisy).
    static func image(_ name: String = "00.jpg") throws -> [UInt8] {
        [UInt8](try Data(contentsOf: FixturePaths.url("trainset/train/daisy/" + name)))
    }

    func remove() {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/rm")
        p.arguments = ["-rf", root]
        try? p.run()
        p.waitUntilExit()
    }
}
