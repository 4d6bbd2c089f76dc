import CLISupport
import FinetuneCommands
import Checkpoint
import Foundation
import TestSupport
import Training
import XCTest

/// `mpirun -np 2 finetune` (Open MPI on loopback, the built executable): parity with real
/// torch.distributed DDP runs (Fixtures/ddp, made by Fixtures/gen_ddp.py), equivalence of
/// `-np 2` at batch b with `-np 1` at 2b where batch norm allows it, --resume with another
/// process count, rank 0 alone writing, and a failing rank ending the job.
final class DataParallelFinetuneTests: XCTestCase {
    static let fixtures = FixturePaths.root
    static let weights = FixturePaths.path("predict/basic.pth")
    static let trainset = FixturePaths.path("trainset")

    struct Case: Decodable {
        struct Epoch: Decodable { let train_loss: Double; let val_loss: Double; let val_accuracy: Double }
        let args: [String]
        let epochs: [Epoch]
        let num_batches_tracked: [String: Int64]
    }

    func workdir(_ name: String) throws -> URL {
        let dir = Scratch.root.appendingPathComponent("graft-ddp-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// `finetune ARGS DATA` as `ranks` processes in `dir` (ranks 0: without mpirun). Direct
    /// convolutions unless ARGS says otherwise: PyTorch's arithmetic, and no measured choice.
    @discardableResult
    func finetune(_ ranks: Int, _ args: [String], in dir: URL, data: String = trainset, expectSuccess: Bool = true,
                  file: StaticString = #filePath, line: UInt = #line) throws -> ProcessRun.Result {
        let all = ["--weights", Self.weights] + (args.contains("--conv") ? [] : ["--conv", "direct"]) + args + [data]
        let r = ranks == 0 ? try ProcessRun.run(try ProcessRun.executable("finetune"), all, currentDirectory: dir)
                           : try ProcessRun.mpi(ranks: ranks, "finetune", all, currentDirectory: dir)
        XCTAssertFalse(r.timedOut, "finetune hung: \(r.stderr)", file: file, line: line)
        if expectSuccess { XCTAssertEqual(r.status, 0, "finetune failed: \(r.stderr)", file: file, line: line) }
        return r
    }

    /// The model after the last epoch (the resume point's copy), by state-dict key.
    func finalModel(_ dir: URL) throws -> StateDict {
        let sd = try Checkpoint(contentsOf: dir.appendingPathComponent("resNet18.resume.pth").path).stateDict
        var out = StateDict()
        for (k, v) in sd.items where k.hasPrefix("model/") { out[String(k.dropFirst(6))] = v }
        return out
    }

    func epochs(_ dir: URL) throws -> [[String: Any]] {
        let json = try ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as? [String: Any]
        return json?["epochs"] as? [[String: Any]] ?? []
    }

    func tensors(_ path: String) throws -> [(name: String, values: [Float])] { try FixtureTensors.named(FixturePaths.url(path)) }

    /// ||a - b|| / ||b|| (Euclidean norms over the tensor).
    func normRelativeError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var diff = 0.0, scale = 0.0
        for i in a.indices {
            diff += Double(a[i] - b[i]) * Double(a[i] - b[i])
            scale += Double(b[i]) * Double(b[i])
        }
        return scale == 0 ? diff.squareRoot() : (diff / scale).squareRoot()
    }

    /// `--conv auto` under mpirun: rank 0's training choices are broadcast and used by all (a
    /// rank computing otherwise would fail the epoch's checksum), and rank 0 records them once;
    /// evaluation shapes are direct by rule.
    func testConvAutoUnderMPIRunUsesRankZerosChoices() throws {
        let dir = try workdir("conv-auto")
        let r = try finetune(2, ["--classes", "3", "--image-size", "40", "--resize", "40", "--epochs", "1", "--workers", "1",
                                 "--conv", "auto", "--verbose"], in: dir)
        let json = try ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as? [String: Any]
        let decisions = try XCTUnwrap(json?["convolution_algorithms"] as? [String: Any], r.stderr + r.stdout)
        XCTAssertTrue(decisions.keys.contains { $0.hasSuffix(" train") }, "\(decisions.keys)")
        let lines = (r.stdout + r.stderr).split(separator: "\n").filter { $0.contains("--conv auto: ") && $0.contains(" train:") }
        // A line for each training shape that was measured (all of them: Winograd exists on every CPU).
        let measured = decisions.filter { $0.key.hasSuffix(" train") && (($0.value as? [String: Any])?.count ?? 0) > 1 }
        XCTAssertEqual(measured.count, decisions.filter { $0.key.hasSuffix(" train") }.count, "\(decisions)")
        XCTAssertEqual(lines.count, measured.count, "one line per measured training shape, from rank 0 only: \(decisions)")
        // And one summary line (from rank 0 only), which counts the measured shapes: the training ones.
        let summary = (r.stdout + r.stderr).split(separator: "\n").filter { $0.hasPrefix("--conv auto: winograd on ") || $0.hasPrefix("--conv auto: direct on all ") }
        XCTAssertEqual(summary.count, 1, r.stdout)
        XCTAssertTrue(summary.first?.contains("\(measured.count) conv shape") ?? false, "\(summary) \(measured.count)")
        // Validation's shapes, met by each rank on its own share, are direct by rule: never measured.
        let eval = decisions.filter { $0.key.hasSuffix(" eval") }
        XCTAssertFalse(eval.isEmpty, "\(decisions.keys)")
        for (key, value) in eval {
            let d = value as? [String: Any]
            XCTAssertEqual(d?["algorithm"] as? String, "direct", key)
            XCTAssertNil(d?["directMilliseconds"], "\(key) was measured: \(d ?? [:])")
        }
    }

    // MARK: - Parity with PyTorch DDP

    func testTwoProcessesReproduceTorchDDP() throws {
        let meta = try ExactJSON.object(with: Data(contentsOf: FixturePaths.url("ddp/meta.json"))) as? [String: Any]
        let cases = try XCTUnwrap(meta?["cases"] as? [String])
        XCTAssertEqual(cases.count, 6)
        let initial = try Checkpoint(contentsOf: Self.weights).stateDict
        for name in cases {
            let c = try JSONDecoder().decode(Case.self, from: Data(contentsOf: FixturePaths.url("ddp/\(name)/case.json")))
            let dir = try workdir(name)
            try finetune(2, c.args, in: dir)
            let model = try finalModel(dir)
            let expected = try tensors("ddp/\(name)/final.bin")
            XCTAssertTrue(expected.contains { $0.name == "fc.weight" }, name)
            let adam = c.args.contains("adam")
            let byName = Dictionary(expected.map { ($0.name, $0.values) }, uniquingKeysWith: { a, _ in a })
            for (key, values) in expected {
                let got = try XCTUnwrap(model[key]?.floats(), "\(name): \(key)")
                if key.hasSuffix("running_mean") {
                    // A channel's mean can be near 0 where its values are not (a mean cancels):
                    // its error is measured against the channels' spread, sqrt(running_var).
                    let variance = try XCTUnwrap(byName[key.replacingOccurrences(of: "mean", with: "var")])
                    let spread = Double(variance.max() ?? 0).squareRoot()
                    XCTAssertLessThanOrEqual(maxAbsError(got, values) / spread, 1e-5, "\(name): \(key)")
                    continue
                }
                // Adam divides each element's step by that element's gradient, so an element
                // whose gradient is rounding noise (a handful of 37k here) moves by noise in any
                // two implementations: its tensors are compared as a whole (||a-b|| / ||b||);
                // SGD's element by element as well (max |a-b| / max |b|).
                XCTAssertLessThanOrEqual(normRelativeError(got, values), 1e-5, "\(name): \(key)")
                if !adam { XCTAssertLessThanOrEqual(relativeError(got, values), 1e-5, "\(name): \(key)") }
                // The steps moved it well beyond the tolerance (else the comparison proves nothing).
                if let before = initial[key]?.floats(), before.count == values.count {
                    XCTAssertGreaterThan(relativeError(before, values), 1e-4, "\(name): \(key) barely moved")
                }
            }
            // Whatever torch left unchanged, Graft left exactly as loaded.
            let changed = Set(expected.map(\.name))
            for (key, t) in initial.items where !changed.contains(key) && !key.hasPrefix("fc.") && !key.hasSuffix("num_batches_tracked") {
                XCTAssertEqual(model[key], t, "\(name): \(key) should be unchanged")
            }
            for (key, n) in c.num_batches_tracked { XCTAssertEqual(model[key]?.int64s(), [n], "\(name): \(key)") }
            // The printed and saved figures are the whole job's, as torch computed them (from
            // weights that agree to 1e-5; the validation loss, through batch norms' running
            // statistics, moves up to 2.4e-5 with them on AVX2: 1e-4).
            let figures = try epochs(dir)
            XCTAssertEqual(figures.count, c.epochs.count, name)
            for (got, want) in zip(figures, c.epochs) {
                XCTAssertEqual(got["train_loss"] as? Double ?? .nan, want.train_loss, accuracy: 1e-4 * want.train_loss, name)
                XCTAssertEqual(got["val_loss"] as? Double ?? .nan, want.val_loss, accuracy: 1e-4 * want.val_loss, name)
                XCTAssertEqual(got["val_accuracy"] as? Double, want.val_accuracy, name)
            }
        }
    }

    // MARK: - -np 2 at batch b equals -np 1 at batch 2b

    /// Where every batch norm's statistics are the same whoever computes them (frozen in eval
    /// mode, or synchronised), two processes at batch b take the steps one process takes at 2b.
    func testTwoProcessesAtBatchBEqualOneAtTwoB() throws {
        let common = ["--classes", "3", "--image-size", "40", "--resize", "40", "--seed", "5", "--epochs", "2", "--workers", "1"]
        let variants: [(String, [String])] = [
            ("fc-cached", ["--train", "fc", "--no-augment", "--optimizer", "sgd", "--lr", "0.05"]),
            ("fc-augment", ["--train", "fc", "--optimizer", "adam", "--lr", "0.001"]),
            ("last-syncbn", ["--train", "last", "--frozen-bn", "eval", "--sync-bn", "--optimizer", "sgd", "--lr", "0.01"]),
            // The stem trains too: conv1's gradient through the max pool's backward and bn1's
            // synchronised backward (its input gradient), and conv1 in the reducer's bucket. One
            // epoch (4 steps, the last 3 + 3 images): the runs differ only by float32 rounding
            // (about 1e-5 of a gradient), but a ReLU whose input lies within that of zero
            // switches sides sooner or later and the trajectories part (here in epoch 2, step 5:
            // layer1.0's residual add at +4e-7 in one run, -3e-7 in the other).
            ("all-syncbn", ["--train", "all", "--sync-bn", "--no-augment", "--optimizer", "sgd", "--lr", "0.01", "--epochs", "1"]),
        ]
        for (name, args) in variants {
            let one = try workdir("eq1-\(name)"), two = try workdir("eq2-\(name)")
            try finetune(0, common + args + ["--batch-size", "8"], in: one)
            let r = try finetune(2, common + args + ["--batch-size", "4"], in: two)
            XCTAssertTrue(r.stdout.contains("global batch of 8 images"), r.stdout)
            let a = try finalModel(one), b = try finalModel(two)
            XCTAssertEqual(a.keys, b.keys)
            for key in a.keys where !key.hasSuffix("num_batches_tracked") {
                let x = try XCTUnwrap(a[key]?.floats()), y = try XCTUnwrap(b[key]?.floats())
                XCTAssertLessThanOrEqual(relativeError(y, x), 1e-5, "\(name): \(key)")
            }
            if name == "all-syncbn" {
                let before = try XCTUnwrap(Checkpoint(contentsOf: Self.weights).stateDict["conv1.weight"]?.floats())
                XCTAssertGreaterThan(relativeError(try XCTUnwrap(a["conv1.weight"]?.floats()), before), 1e-3, "conv1 trained")
            }
            let ea = try epochs(one), eb = try epochs(two)
            XCTAssertEqual(ea.count, eb.count, name)
            for (x, y) in zip(ea, eb) {
                for k in ["train_loss", "val_loss", "val_accuracy"] {
                    let u = x[k] as? Double ?? .nan, v = y[k] as? Double ?? .nan
                    XCTAssertEqual(u, v, accuracy: 1e-5 * max(abs(u), 1e-3), "\(name): \(k)")
                }
            }
        }
        // Per-process batch statistics are not the same as one batch of 2b: the equivalence
        // does not hold, and the comparison above would see it.
        let one = try workdir("eq1-bn"), two = try workdir("eq2-bn")
        let args = common + ["--train", "last", "--frozen-bn", "eval", "--optimizer", "sgd", "--lr", "0.01"]
        try finetune(0, args + ["--batch-size", "8"], in: one)
        try finetune(2, args + ["--batch-size", "4"], in: two)
        let x = try XCTUnwrap(finalModel(one)["layer4.1.conv2.weight"]?.floats())
        let y = try XCTUnwrap(finalModel(two)["layer4.1.conv2.weight"]?.floats())
        XCTAssertGreaterThan(relativeError(y, x), 1e-4)
    }

    // MARK: - Files, --resume, failures

    func testOnlyRankZeroPrintsAndWritesFiles() throws {
        // Each rank in its own folder (an MPMD launch): files written by rank 1 would land in its folder.
        let zero = try workdir("rank0"), one = try workdir("rank1"), board = try workdir("board")
        let args = ["--weights", Self.weights, "--classes", "3", "--image-size", "40", "--resize", "40", "--epochs", "1",
                    "--train", "fc", "--batch-size", "4", "--workers", "1", "--tensorboard", board.path, Self.trainset]
        let exe = try ProcessRun.executable("finetune").path
        let launch = ["--allow-run-as-root", "--oversubscribe", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo",
                      "-np", "1", "--wdir", zero.path, exe] + args + [":", "-np", "1", "--wdir", one.path, exe] + args
        let r = try ProcessRun.run(try ProcessRun.mpirun(), launch)
        XCTAssertFalse(r.timedOut)
        XCTAssertEqual(r.status, 0, r.stderr)
        let written = try FileManager.default.contentsOfDirectory(atPath: zero.path).sorted()
        XCTAssertEqual(written, [RunLock.fileName, "class_indices.json", "metrics.json", "report.html", "resNet18.pth", "resNet18.resume.json",
                                 "resNet18.resume.pth"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: one.path), [], "rank 1 wrote nothing, not even a lock file")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: board.path).count, 1, "one event file")
        for line in ["using 30 images for training", "Finished Training", "[epoch 1]"] {
            XCTAssertEqual(r.stdout.components(separatedBy: line).count - 1, 1, "printed once: \(line)\n\(r.stdout)")
        }
        XCTAssertEqual(r.stderr.components(separatedBy: "skipping").count - 1, 2, "the scan's two warnings, once: \(r.stderr)")
        XCTAssertTrue(r.stdout.contains("allreduce: 0.8 KB per step in 1 bucket"), r.stdout)
        let metrics = try ExactJSON.object(with: Data(contentsOf: zero.appendingPathComponent("metrics.json"))) as? [String: Any]
        let distributed = try XCTUnwrap(metrics?["distributed"] as? [String: Any])
        XCTAssertEqual(distributed["processes"] as? Int, 2)
        XCTAssertEqual(distributed["global_batch_size"] as? Int, 8)
        XCTAssertEqual(distributed["allreduce_bytes_per_step"] as? Int, (3 * 64 + 3) * 4)
        XCTAssertEqual(distributed["steps"] as? Int, 4)
        XCTAssertNotNil(distributed["allreduce_wait_seconds"] as? Double)
        // Without mpirun metrics.json has no "distributed".
        let single = try workdir("single")
        try finetune(0, Array(args.dropFirst(2).dropLast(3)), in: single)
        let m1 = try ExactJSON.object(with: Data(contentsOf: single.appendingPathComponent("metrics.json"))) as? [String: Any]
        XCTAssertNil(m1?["distributed"])
    }

    /// One process trains epoch 1 (stopped there, as an interrupted run), two resume it at the
    /// same --batch-size: they say what changes, keep epoch 1's figures, and take epoch 2's steps
    /// as one process would at twice the batch (its resume point edited to --batch-size 8).
    func testResumeWithAnotherProcessCount() throws {
        let dir = try workdir("resume"), reference = try workdir("resume-ref")
        func args(_ d: URL, batch: Int = 4) -> [String] {
            ["--weights", Self.weights, "--classes", "3", "--image-size", "40", "--resize", "40", "--epochs", "2", "--train", "fc",
             "--no-augment", "--batch-size", String(batch), "--seed", "2", "--workers", "1", "--optimizer", "sgd", "--lr", "0.01",
             "--output", d.path + "/resNet18.pth", "--class-indices", d.path + "/class_indices.json", "--metrics", d.path + "/metrics.json",
             Self.trainset]
        }
        let options = try FinetuneCommandOptions.parse(args(dir))
        let job = try FinetuneJob.prepare(options.config, output: options.output.output, resume: false, log: { _ in }, warn: { _ in })
        try job.run(until: 1)
        let epoch1 = try XCTUnwrap(job.trainer.history.first)
        // The reference: the same resume point, continued by one process at batch 8.
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
            let text = try String(contentsOfFile: dir.path + "/" + file, encoding: .isoLatin1)
                .replacingOccurrences(of: dir.path, with: reference.path)
                .replacingOccurrences(of: dir.path.replacingOccurrences(of: "/", with: "\\/"),
                                      with: reference.path.replacingOccurrences(of: "/", with: "\\/"))
                .replacingOccurrences(of: "\"batchSize\" : 4", with: "\"batchSize\" : 8")
            try text.write(toFile: reference.path + "/" + file, atomically: true, encoding: .isoLatin1)
        }
        let ref = try ProcessRun.run(try ProcessRun.executable("finetune"), args(reference, batch: 8) + ["--resume"])
        XCTAssertEqual(ref.status, 0, ref.stderr)
        XCTAssertTrue(ref.stdout.contains("resuming at epoch 2"), ref.stdout)

        let r = try ProcessRun.mpi(ranks: 2, "finetune", args(dir) + ["--resume"])
        XCTAssertFalse(r.timedOut)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("--resume: the saved run had 1 process, this one 2: the global batch is now 8 images (was 4)"), r.stdout)
        let figures = try epochs(dir)
        XCTAssertEqual(figures.count, 2)
        XCTAssertEqual(figures.first?["train_loss"] as? Double ?? .nan, epoch1.trainLoss, accuracy: 1e-12 * epoch1.trainLoss,
                       "epoch 1 as the saved run had it")
        let a = try finalModel(dir), b = try finalModel(reference)
        let w = try XCTUnwrap(a["fc.weight"]?.floats()), v = try XCTUnwrap(b["fc.weight"]?.floats())
        XCTAssertLessThanOrEqual(relativeError(w, v), 1e-5)
        XCTAssertGreaterThan(relativeError(w, try XCTUnwrap(job.trainer.model.stateDict()["fc.weight"]?.floats())), 1e-3, "epoch 2 trained")
        let state = try ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("resNet18.resume.json"))) as? [String: Any]
        XCTAssertEqual(state?["processes"] as? Int, 2)
        // Decoding threads change nothing in the run: another --workers resumes it.
        var moreThreads = options.config
        moreThreads.workers = 3
        XCTAssertNoThrow(try FinetuneJob.prepare(moreThreads, output: options.output.output, resume: true, log: { _ in }, warn: { _ in }))
        // --sync-bn must match the saved run's.
        XCTAssertThrowsError(try FinetuneJob.prepare(options.config, output: options.output.output, resume: true, syncBatchNorm: true,
                                                     log: { _ in }, warn: { _ in })) {
            XCTAssertEqual($0 as? ResumeError, .syncBatchNormDiffers(saved: false))
        }
    }

    func testAnUnreadableImageOnOneRankEndsTheJobWithItsMessage() throws {
        let dir = try workdir("unreadable")
        let data = dir.appendingPathComponent("data").path
        try FileManager.default.copyItem(atPath: Self.trainset, toPath: data)
        // A JPEG whose headers are whole (the scan keeps it) but whose image data is cut short.
        let source = try Data(contentsOf: URL(fileURLWithPath: data + "/train/tulips/04.jpg"))
        let sos = try XCTUnwrap(source.indices.first { source[$0] == 0xFF && source[$0 + 1] == 0xDA })
        try source.prefix(sos + 40).write(to: URL(fileURLWithPath: data + "/train/tulips/04.jpg"))
        let r = try finetune(2, ["--classes", "3", "--image-size", "40", "--resize", "40", "--epochs", "1", "--train", "fc",
                                 "--batch-size", "4", "--workers", "1"], in: dir, data: data, expectSuccess: false)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("finetune: rank "), r.stderr)
        XCTAssertTrue(r.stderr.contains("train/tulips/04.jpg"), r.stderr)
        XCTAssertTrue(r.stderr.contains("Under mpirun an unreadable image stops the job"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("resNet18.pth").path))
    }

    func testARankThatFailsBeforeTrainingEndsTheJob() throws {
        // Rank 1 is given weights that do not exist: rank 0 waits for it in the first
        // collective, and rank 1's error must end the job rather than leave rank 0 waiting.
        let dir = try workdir("fail-early")
        let exe = try ProcessRun.executable("finetune").path
        let args = ["--classes", "3", "--image-size", "40", "--resize", "40", "--epochs", "1", "--train", "fc", Self.trainset]
        let launch = ["--allow-run-as-root", "--oversubscribe", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo",
                      "-np", "1", "--wdir", dir.path, exe, "--weights", Self.weights] + args
            + [":", "-np", "1", "--wdir", dir.path, exe, "--weights", dir.path + "/missing.pth"] + args
        let r = try ProcessRun.run(try ProcessRun.mpirun(), launch, timeout: 60)
        XCTAssertFalse(r.timedOut, "the job hung: \(r.stderr)")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("finetune: rank 1 of 2: "), r.stderr)
        XCTAssertTrue(r.stderr.contains("missing.pth"), r.stderr)
    }
}
