import Foundation
import TestSupport
import XCTest

/// A DATA folder whose name is not UTF-8, given on the command line: the commands read their
/// arguments' bytes as given (`PathBytes.arguments`), where `CommandLine.arguments` would
/// turn byte 0xFF into U+FFFD and name a folder that does not exist. The byte is made by the
/// shell (`printf '\377'`): Foundation's Process passes only UTF-8 arguments.
final class NonUTF8ArgumentTests: XCTestCase {
    func testFinetuneTrainsOnADataFolderWhoseNameIsNotUTF8() throws {
        let dir = Scratch.root.appendingPathComponent("graft-nonutf8-arg-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let finetune = try ProcessRun.executable("finetune")
        let trainset = FixturePaths.path("trainset"), weights = FixturePaths.path("predict/basic.pth")
        let script = """
            cp -r '\(trainset)' "data$(printf '\\377')" && exec '\(finetune.path)' --weights '\(weights)' --classes 3 \
            --image-size 40 --resize 40 --epochs 1 --train fc --workers 1 --conv direct "data$(printf '\\377')"
            """
        let r = try ProcessRun.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script], currentDirectory: dir, timeout: 300)
        XCTAssertFalse(r.timedOut)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("Finished Training"), r.stdout + r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("resNet18.pth").path))
    }
}
