import TestSupport
import Checkpoint
import Foundation
import XCTest
@testable import Training

/// Two finetune runs in one folder used to mix their outputs (one run's model beside the
/// other's metrics.json, report and resume point). A run now holds its output folders' lock
/// (`.graft-finetune.lock`, flock) from its checks to its end, and a second run is refused,
/// naming who holds it.
final class RunLockTests: XCTestCase {
    let base = FinetuneTests.self

    func prepare(_ c: TrainConfig, resume: Bool = false) throws -> FinetuneJob {
        try FinetuneJob.prepare(c, output: c.output, resume: resume, log: { _ in }, warn: { _ in })
    }

    /// A link planted at the lock's name (a shared folder) is never followed: its target is
    /// neither created nor truncated, and the run is refused with what to do. A named pipe
    /// there neither blocks nor is taken for the lock.
    func testALinkOrPipeAtTheLockNameIsNotFollowed() throws {
        let dir = try base.workdir("lock-link")
        let victim = dir + "/victim.txt", missing = dir + "/created-through-the-link"
        try Data("precious".utf8).write(to: URL(fileURLWithPath: victim))
        for target in [victim, missing] {
            unlink(dir + "/" + RunLock.fileName)
            XCTAssertEqual(symlink(target, dir + "/" + RunLock.fileName), 0)
            XCTAssertThrowsError(try RunLock(folder: dir, command: "finetune")) { error in
                guard case .cannotLock? = error as? RunLock.Failure else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains("symbolic link"), "\(error)")
            }
        }
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "precious")
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "a file was created through the link")
        unlink(dir + "/" + RunLock.fileName)
        XCTAssertEqual(mkfifo(dir + "/" + RunLock.fileName, 0o644), 0)
        XCTAssertThrowsError(try RunLock(folder: dir, command: "finetune")) { error in
            XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
        }
    }

    /// flock locks belong to open file descriptions: a second open()+flock in the same process
    /// conflicts, and is refused with the holder's pid, host, start time and command.
    func testASecondLockOnTheFolderIsRefusedNamingTheHolder() throws {
        let dir = try base.workdir("lock-twice")
        let since = Date(timeIntervalSince1970: 1_764_614_400)
        let first = try RunLock(folder: dir, command: "finetune --weights resnet18 --classes 3 data", now: since)
        XCTAssertEqual(first.path, dir + "/.graft-finetune.lock")
        XCTAssertThrowsError(try RunLock(folder: dir + "/", command: "finetune again")) { error in
            guard case let .held(folder, lockFile, holder)? = error as? RunLock.Failure else { return XCTFail("\(error)") }
            XCTAssertEqual(folder, dir + "/")
            XCTAssertEqual(lockFile, dir + "/.graft-finetune.lock")
            XCTAssertEqual(holder, RunLock.Holder(pid: getpid(), host: RunLock.hostname, since: "2025-12-01T18:40:00Z",
                                                  command: "finetune --weights resnet18 --classes 3 data"))
            let message = "\(error)"
            for part in ["another finetune run is writing its outputs here", "pid \(getpid()) on host \(RunLock.hostname)",
                         "since 2025-12-01T18:40:00Z", "running: finetune --weights resnet18 --classes 3 data",
                         "Wait for that run to end or stop it, or give this run another folder"] {
                XCTAssertTrue(message.contains(part), "\(part) in: \(message)")
            }
        }
        first.release()
        XCTAssertFalse(first.isHeld)
        let second = try RunLock(folder: dir, command: "finetune again")
        XCTAssertTrue(second.isHeld)
        // Dropping the object (as a process that ends) lets the lock go too.
        var third: RunLock? = nil
        XCTAssertThrowsError(third = try RunLock(folder: dir))
        second.release()
        third = try RunLock(folder: dir)
        third = nil
        XCTAssertNoThrow(try RunLock(folder: dir))
    }

    /// Only the flock counts: the file's contents, whatever they say, never lock anything, and
    /// a holder that has not written them yet is named as starting.
    func testTheFileContentsAreNeverTrustedForLocking() throws {
        let dir = try base.workdir("lock-contents")
        let path = dir + "/" + RunLock.fileName
        try Data("pid: 1\nhost: elsewhere\nsince: yesterday\ncommand: finetune\n".utf8).write(to: URL(fileURLWithPath: path))
        let lock = try RunLock(folder: dir, command: "mine")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.contains("pid: \(getpid())\n") && text.contains("command: mine\n"), text)
        XCTAssertFalse(text.contains("elsewhere"), text)
        lock.release()
        // An empty file (a holder that has just taken the lock).
        let fd = open(path, O_RDWR | O_TRUNC)
        XCTAssertEqual(flock(fd, LOCK_EX), 0)
        defer { close(fd) }
        XCTAssertThrowsError(try RunLock(folder: dir)) { XCTAssertTrue("\($0)".contains("it has not written who it is yet"), "\($0)") }
    }

    /// Another process holding the lock (flock(1), as another finetune would) refuses this one;
    /// when it ends, the kernel releases the lock.
    func testAnotherProcessHoldingTheLockRefusesThisOne() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") else { throw XCTSkip("no /usr/bin/flock") }
        let dir = try base.workdir("lock-process")
        let holder = Process()
        // One process, sleep, holds the lock (the shell execs it): ending it releases the lock.
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", "exec 9>>\"$0\" && /usr/bin/flock 9 && exec /bin/sleep 60", dir + "/" + RunLock.fileName]
        try holder.run()
        defer { if holder.isRunning { holder.terminate() } }
        var refused = false
        for _ in 0..<100 where !refused {           // until flock(1) has the lock
            do { _ = try RunLock(folder: dir); usleep(20_000) } catch { refused = error is RunLock.Failure }
        }
        XCTAssertTrue(refused)
        holder.terminate()
        holder.waitUntilExit()
        XCTAssertNoThrow(try RunLock(folder: dir))
    }

    /// A prepared job holds its folders until its run ends: a second job there, however the
    /// folder is spelt, is refused before it reads --resume or writes anything.
    func testASecondJobInTheSameFolderIsRefusedUntilTheFirstEnds() throws {
        let dir = try base.workdir("lock-job")
        let c = base.config(dir, epochs: 1)
        let first = try prepare(c)
        var other = c
        other.output = dir + "/./other.pth"          // another model, the same metrics.json
        other.metrics = dir + "/../" + (dir as NSString).lastPathComponent + "/metrics.json"
        XCTAssertThrowsError(try prepare(other)) {
            XCTAssertTrue("\($0)".contains("another finetune run is writing its outputs here (pid \(getpid())"), "\($0)")
        }
        XCTAssertThrowsError(try prepare(c, resume: true)) { XCTAssertTrue($0 is RunLock.Failure, "\($0)") }
        try first.run()
        XCTAssertTrue(FileManager.default.fileExists(atPath: c.output))
        XCTAssertNoThrow(try prepare(other).run(), "the lock went with the first run's end")
        // Outputs in another folder: no conflict.
        let elsewhere = try base.workdir("lock-job-elsewhere")
        let held = try prepare(c)
        XCTAssertNoThrow(try prepare(base.config(elsewhere, epochs: 1)))
        held.releaseFolders()
    }

    /// A first epoch killed before its resume point leaves `.resNet18.pth.tmp-PID`; a refused
    /// --resume (nothing to resume, or other options) now removes such files: under the lock
    /// no living run writes them, whatever their pid.
    func testARefusedResumeRemovesTheTemporaryFilesOfKilledRuns() throws {
        let dir = try base.workdir("lock-stale")
        let c = base.config(dir, epochs: 2)
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["60"]
        try sleeper.run()
        defer { sleeper.terminate() }
        let stale = [".resNet18.pth.tmp-4000001", ".resNet18.pth.tmp-4000001.aB3xYz", ".metrics.json.tmp-\(sleeper.processIdentifier)",
                     ".resNet18.resume.pth.tmp-\(getpid()).Qw12Er", ".class_indices.json.tmp-7"]
        let kept = ["notes.txt", ".other.pth.tmp-4000001", ".resNet18.pth.tmp-x1"]
        func plant() { for name in stale + kept { FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(count: 10)) } }
        func left() -> Set<String> { Set((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []) }

        plant()
        XCTAssertThrowsError(try prepare(c, resume: true)) { XCTAssertEqual($0 as? ResumeError, .nothingToResume(ResumeState.paths(for: c).json)) }
        XCTAssertEqual(left().intersection(stale), [], "refused --resume (nothing to resume)")
        XCTAssertEqual(left().intersection(kept), Set(kept))

        let job = try prepare(c)
        try job.run(until: 1)
        plant()
        var changed = c
        changed.epochs = 3
        XCTAssertThrowsError(try prepare(changed, resume: true)) { XCTAssertTrue($0 is ResumeError, "\($0)") }
        XCTAssertEqual(left().intersection(stale), [], "refused --resume (another --epochs)")
        XCTAssertEqual(left().intersection(kept), Set(kept))
    }

    /// --resume with other options names each one, with the saved value and the given one,
    /// and says what to do.
    func testAResumeWithOtherOptionsNamesEachDifference() throws {
        let dir = try base.workdir("lock-differ")
        let c = base.config(dir, epochs: 2)
        try prepare(c).run(until: 1)
        var changed = c
        changed.epochs = 5
        changed.optimizer.lr = 0.001
        changed.workers = 7                         // decoding threads change nothing: not named
        XCTAssertThrowsError(try prepare(changed, resume: true)) { error in
            let json = ResumeState.paths(for: c).json
            XCTAssertEqual(error as? ResumeError, .differentRun(resumePoint: json, differences: [
                OptionDifference(option: "--epochs", saved: "2", given: "5"),
                OptionDifference(option: "--lr", saved: "0.02", given: "0.001"),
            ]))
            XCTAssertEqual("\(error)", "--resume: this command differs from the run saved in \(json): "
                + "--epochs: the run was started with 2, this command gives 5; --lr: the run was started with 0.02, this command gives 0.001. "
                + "To continue that run, give the values it was started with. Run without --resume to start again.")
        }
        var one = c
        one.optimizer.lr = 0.0001
        XCTAssertThrowsError(try prepare(one, resume: true)) {
            XCTAssertTrue("\($0)".contains("--lr: the run was started with 0.02, this command gives 0.0001. To continue that run, give the value it was started with."), "\($0)")
        }
        XCTAssertNoThrow(try prepare(c, resume: true).run(), "the saved options continue it")
    }

    /// Every field of the config is named by its option when it differs (so no difference is
    /// ever reported without saying which).
    func testEveryOptionIsNamed() {
        var c = TrainConfig(data: "data", classes: 3)
        c.trainCrop = c.imageSize                    // as finetune records it: the val crop's change alone
        let changes: [(String, (inout TrainConfig) -> Void)] = [
            ("DATA", { $0.data = "other" }), ("--weights", { $0.weights = "w.pth" }), ("--arch", { $0.architecture = "resnet50" }),
            ("--train", { $0.policy = .fc }), ("--last-stages", { $0.lastStages = 2 }), ("--head", { $0.head = .append }),
            ("--frozen-bn", { $0.frozenBN = .train }), ("--precision", { $0.precision = "bf16" }), ("--conv", { $0.conv = nil }),
            ("--classes", { $0.classes = 4 }), ("--val-split", { $0.valSplit = 0.2 }), ("--val-crop", { $0.imageSize = 32 }),
            ("--val-resize", { $0.resize = 40 }), ("--train-crop", { $0.trainCrop = 24 }), ("--no-augment", { $0.augment = false }), ("--epochs", { $0.epochs = 9 }),
            ("--auto-augment", { $0.augmentation = Augmentation(autoAugment: .taWide) }),
            ("--batch-size", { $0.batchSize = 2 }), ("--lr", { $0.optimizer.lr = 1 }), ("--optimizer", { $0.optimizer.kind = .sgd }),
            ("--momentum", { $0.optimizer.momentum = 0 }), ("--nesterov", { $0.optimizer.nesterov = true }),
            ("--weight-decay", { $0.optimizer.weightDecay = 1 }), ("--schedule", { $0.schedule = .cosine }),
            ("--step-size", { $0.stepSize = 5 }), ("--warmup-epochs", { $0.warmupEpochs = 0.5 }),
            ("--plateau-patience", { $0.plateauPatience = 7 }), ("--patience", { $0.patience = 3 }),
            ("--monitor", { $0.monitor = .valLoss }), ("--label-smoothing", { $0.labelSmoothing = 0.1 }), ("--seed", { $0.seed = 5 }),
            ("--class-weights", { $0.classWeights = .balanced }), ("--sampler", { $0.sampler = .balanced }),
            ("--clip-grad-norm", { $0.clipGradNorm = 1 }), ("--accumulate", { $0.accumulate = 2 }),
            ("--head-epochs", { $0.headEpochs = 1 }), ("--lr-backbone", { $0.lrBackbone = 1e-5 }), ("--lr-slice", { $0.lrSlice = 1e-6 }),
            ("--recipe", { $0.recipe = .fastai }),
            ("--mixup-alpha", { $0.mixupAlpha = 0.2 }), ("--cutmix-alpha", { $0.cutmixAlpha = 1 }), ("--ema-decay", { $0.emaDecay = 0.99 }),
            ("--output", { $0.output = "o.pth" }), ("--save-dtype", { $0.saveDType = "float16" }),
            ("--class-indices", { $0.classIndices = "c.json" }), ("--metrics", { $0.metrics = "m.json" }),
            ("Adam's eps", { $0.optimizer.eps = 1e-6 }),
        ]
        for (option, change) in changes {
            var d = c
            change(&d)
            XCTAssertEqual(d.differences(from: c).map(\.option), [option])
        }
        var workers = c
        workers.workers = 9
        XCTAssertEqual(workers.differences(from: c), [])
        // Every stored field is covered above (workers apart): a new field needs its option here.
        let fields = Mirror(reflecting: c).children.count - 2 + Mirror(reflecting: c.optimizer).children.count
        XCTAssertEqual(fields, changes.count, "TrainConfig's fields (less workers and optimizer) and OptimizerConfig's")
    }

    /// Outputs named by one character (`finetune --output a`) lock the current folder instead of
    /// trapping in NSString's deletingLastPathComponent.
    func testOneCharacterOutputNamesLockTheCurrentFolder() throws {
        let dir = Scratch.root.appendingPathComponent("graft-runfolders-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let here = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(dir.path)
        defer { FileManager.default.changeCurrentDirectoryPath(here) }
        let folders = try RunFolders.take(for: ["a", "b"], log: { _ in })
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".graft-finetune.lock").path))
        folders.release()
    }
}
