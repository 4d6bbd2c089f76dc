import Foundation
import TestSupport
import XCTest

/// finetune on Fixtures/trainset from Fixtures/predict/basic.pth with direct convolutions, in one
/// process or under mpirun: what the tests that compare `-np 2` at batch b with one process at
/// 2b share.
extension XCTestCase {
    /// A fresh scratch folder `graft-<prefix>-<pid>-<name>`.
    func scratchFolder(_ prefix: String, _ name: String) throws -> URL {
        let dir = Scratch.root.appendingPathComponent("graft-\(prefix)-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs `finetune ARGS trainset` in `dir` (`ranks` 0: one process, else under mpirun); the
    /// run must succeed. Returns its standard output.
    @discardableResult
    func finetuneOnTrainset(_ ranks: Int, _ args: [String], in dir: URL) throws -> String {
        let all = ["--weights", FixturePaths.path("predict/basic.pth"), "--conv", "direct"] + args + [FixturePaths.path("trainset")]
        let r = ranks == 0 ? try ProcessRun.run(try ProcessRun.executable("finetune"), all, currentDirectory: dir)
                           : try ProcessRun.mpi(ranks: ranks, "finetune", all, currentDirectory: dir)
        XCTAssertFalse(r.timedOut, r.stderr)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout
    }
}
