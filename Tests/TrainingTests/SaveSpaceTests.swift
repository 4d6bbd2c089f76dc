import Foundation
import TestSupport
import XCTest
@testable import Training

/// finetune warns before the first epoch when the disk it saves on cannot hold what each epoch
/// saves (`SaveSpace`).
final class SaveSpaceTests: XCTestCase {
    /// The estimate, made before anything is written, against the files a run wrote: Adam on
    /// everything and on the head (two buffers for each trainable parameter), SGD with momentum on
    /// everything, and an average (--ema-decay) in the resume file.
    func testEstimatesMatchTheFilesWritten() throws {
        var variants: [(String, TrainConfig)] = []
        var adam = FinetuneTests.config(try FinetuneTests.workdir("space-adam"), epochs: 1)
        adam.policy = .all
        adam.optimizer = OptimizerConfig(kind: .adam, lr: 1e-3)
        variants.append(("adam all", adam))
        variants.append(("adam fc", FinetuneTests.config(try FinetuneTests.workdir("space-fc"), epochs: 1)))
        var sgd = FinetuneTests.config(try FinetuneTests.workdir("space-sgd"), epochs: 1)
        sgd.policy = .all
        sgd.optimizer = OptimizerConfig(kind: .sgd, lr: 0.01)
        sgd.emaDecay = 0.9
        variants.append(("sgd all ema", sgd))
        for (name, c) in variants {
            var warnings: [String] = []
            let job = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { warnings.append($0) })
            let estimate = SaveSpace.files(c, model: job.trainer.model)
            try job.run()
            XCTAssertFalse(warnings.contains { $0.contains("free on the disk") }, "\(name): \(warnings)")
            XCTAssertEqual(estimate.map(\.path), [c.output, ResumeState.paths(for: c).tensors], name)
            for file in estimate {
                let real = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int, file.path)
                // Within 2 % and 16 KB: the tensors' bytes are exact, the archive's own bytes estimated.
                XCTAssertEqual(Double(file.bytes), Double(real), accuracy: 0.02 * Double(real) + 16_384,
                               "\(name): \(file.path): estimated \(file.bytes), wrote \(real)")
            }
        }
    }

    func testWarnsWhenTheFilesAndOneMoreDoNotFit() throws {
        let files = [SaveSpace.File(path: "/data/run/resNet18.pth", bytes: 45_000_000),
                     SaveSpace.File(path: "/data/run/resNet18.resume.pth", bytes: 134_000_000)]
        // A new run: both files, and a second copy of the larger while it replaces it.
        XCTAssertNil(SaveSpace.warning(files, free: 313_000_000, present: false))
        let later = try XCTUnwrap(SaveSpace.warning(files, free: 312_999_999, present: false))
        XCTAssertEqual(later, "only 312 MB free on the disk that holds /data/run: each epoch saves resNet18.pth (45 MB) and "
                       + "resNet18.resume.pth (134 MB), which takes up to 313 MB free (each file is written whole beside the one it replaces). A save after a later epoch "
                       + "would fail (\"No space left on device\"), after that epoch's work: make room now, or give --output a path on another disk")
        let first = try XCTUnwrap(SaveSpace.warning(files, free: 178_999_999, present: false))
        XCTAssertTrue(first.contains("The save after the first epoch would fail"), first)
        XCTAssertTrue(first.hasPrefix("only 178 MB free"), first)
        // --resume: the files are there; replacing the larger takes its size again.
        XCTAssertNil(SaveSpace.warning(files, free: 134_000_000, present: true))
        let resumed = try XCTUnwrap(SaveSpace.warning(files, free: 5_000_000, present: true))
        XCTAssertTrue(resumed.hasPrefix("only 5.0 MB free"), resumed)
        XCTAssertTrue(resumed.contains("The save after the first epoch would fail"), resumed)
        XCTAssertTrue(SaveSpace.warning([SaveSpace.File(path: "m.pth", bytes: 10)], free: 0, present: false)?
            .contains("the disk that holds the current folder") ?? false)
        XCTAssertNil(SaveSpace.warning([], free: 0, present: false))
        // A folder or file name cannot set the terminal's colours: shown escaped, as ls does.
        let hostile = try XCTUnwrap(SaveSpace.warning([SaveSpace.File(path: "/d/\u{1b}[31mred/m\u{1b}]0;x.pth", bytes: 10)], free: 0, present: false))
        XCTAssertFalse(hostile.contains("\u{1b}"), hostile)
        XCTAssertTrue(hostile.contains("/d/\\x1b[31mred") && hostile.contains("m\\x1b]0;x.pth"), hostile)
    }

    /// End to end on a disk that is really too small: a 1 MB tmpfs (needs root; skipped where it
    /// cannot be mounted).
    func testFinetuneWarnsOnASmallDisk() throws {
        let dir = try FinetuneTests.workdir("space-small")
        let disk = dir + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        guard FileManager.default.isExecutableFile(atPath: "/bin/mount"),
              let mount = try? ProcessRun.run(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=1m", "tmpfs", disk]),
              mount.status == 0 else { throw XCTSkip("cannot mount a small tmpfs here (it needs root and /bin/mount)") }
        defer { _ = try? ProcessRun.run(URL(fileURLWithPath: "/bin/umount"), [disk]) }
        var c = FinetuneTests.config(disk, epochs: 1)
        c.policy = .all
        var warnings: [String] = []
        _ = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { warnings.append($0) })
        let warning = try XCTUnwrap(warnings.first { $0.contains("free on the disk that holds \(disk)") }, "\(warnings)")
        XCTAssertTrue(warning.contains("The save after the first epoch would fail"), warning)
    }
}
