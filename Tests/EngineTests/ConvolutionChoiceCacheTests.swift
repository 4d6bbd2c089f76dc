import TestSupport
import Foundation
import XCTest
@testable import Engine

/// `--conv auto`'s choices are the same on every run on a machine: kept in the choice cache
/// (`ConvolutionChoiceCache`), read defensively, keyed by machine and ISA, and measured so that
/// noise cannot flip a near tie.
final class ConvolutionChoiceCacheTests: XCTestCase {
    var dir: URL!
    var path: String { dir.appendingPathComponent("graft/conv-choices.json").path }
    let shape = "64->64 3x3 stride 1 pad 1 on 8x64x56x56 train"

    override func setUpWithError() throws {
        dir = Scratch.root.appendingPathComponent("graft-conv-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func ms(_ direct: Double, _ winograd: Double) -> ConvolutionTuner.Timing {
        ConvolutionTuner.Timing(direct: Int64(direct * 1e6), winograd: Int64(winograd * 1e6))
    }

    /// A fresh tuner (a new process, as far as the tuner knows) with its own view of the file.
    func tuner() -> ConvolutionTuner {
        ConvolutionTuner(cache: ConvolutionChoiceCache(path: path))
    }

    /// Two runs whose clocks disagree (Winograd twice as fast, then twice as slow) choose alike:
    /// the second takes the first's measurement from the file and does not measure.
    func testASecondRunChoosesAsTheFirstWhateverItsTimings() throws {
        let first = tuner()
        XCTAssertEqual(try first.algorithm(for: shape) { ms(100, 50) }, .winograd)
        XCTAssertEqual(first.decisions[shape]?.cached, false)

        let second = tuner()
        var measured = false
        let chosen = try second.algorithm(for: shape) { measured = true; return ms(50, 100) }
        XCTAssertEqual(chosen, .winograd, "the cached choice, not this run's timings")
        XCTAssertFalse(measured, "a cached shape is not measured again")
        XCTAssertEqual(second.decisions[shape], ConvolutionTuner.Decision(algorithm: .winograd, directMilliseconds: 100,
                                                                            winogradMilliseconds: 50, cached: true))
        // The other way round too (a stored direct stays direct).
        let other = "128->128 3x3 stride 1 pad 1 on 8x128x28x28 train"
        XCTAssertEqual(try tuner().algorithm(for: other) { ms(50, 100) }, .direct)
        XCTAssertEqual(try tuner().algorithm(for: other) { ms(100, 10) }, .direct)
    }

    /// Garbage, a file over the size bound, a symbolic link (to a valid file elsewhere), a FIFO,
    /// another format version, implausible times, wrong types: each is ignored (the shape is
    /// measured), and the store replaces it with a valid file (a link itself, not its target).
    func testMalformedOrHostileFilesAreIgnoredAndRewritten() throws {
        let valid = try String(decoding: JSONEncoder().encode(
            ConvolutionChoiceCache.Contents(entries: [key(): ms(100, 10)])), as: UTF8.self)
        let elsewhere = dir.appendingPathComponent("elsewhere.json").path
        let cases: [(String, () throws -> Void)] = [
            ("garbage", { try Data([0xFF, 0x00, 0x7B, 0x22]).write(to: URL(fileURLWithPath: self.path)) }),
            ("empty", { try Data().write(to: URL(fileURLWithPath: self.path)) }),
            ("huge", {
                let pad = String(repeating: " ", count: ConvolutionChoiceCache.maxBytes)
                try (String(valid.dropLast()) + pad + "}").write(toFile: self.path, atomically: false, encoding: .utf8)
            }),
            ("symlink", {
                try valid.write(toFile: elsewhere, atomically: false, encoding: .utf8)
                try FileManager.default.createSymbolicLink(atPath: self.path, withDestinationPath: elsewhere)
            }),
            ("fifo", { XCTAssertEqual(mkfifo(self.path, 0o600), 0) }),
            ("wrong version", {
                try valid.replacingOccurrences(of: "\"version\":1", with: "\"version\":99")
                    .write(toFile: self.path, atomically: false, encoding: .utf8)
            }),
            ("implausible times", {
                try valid.replacingOccurrences(of: "\"direct_ns\":100000000", with: "\"direct_ns\":-5")
                    .write(toFile: self.path, atomically: false, encoding: .utf8)
            }),
            ("wrong types", {
                try "{\"format\":\"graft conv choices\",\"version\":1,\"entries\":{\"\(self.key())\":{\"direct_ns\":\"fast\"}}}"
                    .write(toFile: self.path, atomically: false, encoding: .utf8)
            }),
            ("too deep", {
                try (String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000))
                    .write(toFile: self.path, atomically: false, encoding: .utf8)
            }),
        ]
        for (name, make) in cases {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: elsewhere)
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try make()
            XCTAssertTrue(ConvolutionChoiceCache(path: path).readFile().isEmpty, name)
            var measured = false
            XCTAssertEqual(try tuner().algorithm(for: shape) { measured = true; return ms(50, 100) }, .direct, name)
            XCTAssertTrue(measured, "\(name): ignored, so measured")
            // Rewritten: a regular file that the next run reads.
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            XCTAssertEqual(attributes[.type] as? FileAttributeType, .typeRegular, name)
            XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600, name)
            XCTAssertEqual(ConvolutionChoiceCache(path: path).timing(for: key()), ms(50, 100), name)
            if name == "symlink" {
                XCTAssertEqual(try String(contentsOfFile: elsewhere, encoding: .utf8), valid, "the link's target is left alone")
            }
        }
        // No temporary file is left beside it.
        let left = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
        XCTAssertEqual(left, ["conv-choices.json"])
    }

    func key(isa: String = CPUCapabilities.current.isa) -> String {
        ConvolutionChoiceCache.key(shape: shape, machine: ConvolutionChoiceCache.machineKey(isa: isa))
    }

    /// The key names the ISA (and the threads, oneDNN's version, Graft's conv code, the CPU): a
    /// measurement made under ONEDNN_MAX_CPU_ISA=AVX2 is not used on AVX-512 kernels.
    func testTheKeySeparatesISAs() throws {
        let avx2 = ConvolutionChoiceCache.machineKey(isa: "avx2", threads: 4)
        let avx512 = ConvolutionChoiceCache.machineKey(isa: "avx512_core", threads: 4)
        XCTAssertNotEqual(avx2, avx512)
        XCTAssertNotEqual(avx2, ConvolutionChoiceCache.machineKey(isa: "avx2", threads: 8))
        XCTAssertTrue(avx2.contains(ConvolutionChoiceCache.codeVersion) && avx2.contains("onednn "), avx2)

        let first = tuner()
        first.machineKey = avx2
        XCTAssertEqual(try first.algorithm(for: shape) { ms(100, 10) }, .winograd)
        let second = tuner()
        second.machineKey = avx512
        var measured = false
        XCTAssertEqual(try second.algorithm(for: shape) { measured = true; return ms(10, 100) }, .direct)
        XCTAssertTrue(measured, "another ISA's measurement is not used")
        let third = tuner()
        third.machineKey = avx2
        XCTAssertEqual(try third.algorithm(for: shape) { XCTFail("measured"); return ms(10, 100) }, .winograd)
    }

    /// Winograd must win by more than 10 %: a near tie stays direct (PyTorch's arithmetic).
    func testTheMarginKeepsDirectOnNearTies() {
        XCTAssertEqual(ConvolutionTuner.choose(ms(100, 92), runs: 1), .direct)
        XCTAssertEqual(ConvolutionTuner.choose(ms(100, 90.5), runs: 1), .direct)
        XCTAssertEqual(ConvolutionTuner.choose(ms(100, 85), runs: 1), .winograd)
        // Inference: the filter transform is spread over the batches ahead.
        let prepared = ConvolutionTuner.Timing(direct: 100_000_000, winograd: 50_000_000, directSetup: 0, winogradSetup: 1_000_000_000)
        XCTAssertEqual(ConvolutionTuner.choose(prepared, runs: 10), .direct)
        XCTAssertEqual(ConvolutionTuner.choose(prepared, runs: 1000), .winograd)
    }

    /// The warm-up run is not timed and one slow run among the repetitions does not count: the
    /// median of each. A fake clock that each body advances gives the durations.
    func testMeasurementIgnoresWarmUpAndOutliers() throws {
        var clock: UInt64 = 0
        var directRuns: [UInt64] = [900, 100, 100, 5000, 100, 100]   // warm-up first
        var winogradRuns: [UInt64] = [3000, 95, 95, 95, 95, 1]
        let t = try ConvolutionTuner.compare(repetitions: 5, clock: { clock },
                                             direct: { clock += directRuns.removeFirst() },
                                             winograd: { clock += winogradRuns.removeFirst() })
        XCTAssertEqual(t.direct, 100)
        XCTAssertEqual(t.winograd, 95)
        XCTAssertTrue(directRuns.isEmpty && winogradRuns.isEmpty, "one warm-up and five timed runs each")
        XCTAssertEqual(ConvolutionTuner.choose(ConvolutionTuner.Timing(direct: t.direct, winograd: t.winograd), runs: 1), .direct)
    }

    /// Where the file is: GRAFT_CONV_CACHE (or off), else XDG_CACHE_HOME, else ~/.cache; and no
    /// file at all unless a command asks for it (tests never write into the home).
    func testTheFileIsWhereTheEnvironmentSays() {
        XCTAssertNil(ConvolutionChoiceCache.processDefault)
        XCTAssertNil(ConvolutionTuner().cache)
        XCTAssertNil(ConvolutionChoiceCache.standard(environment: ["GRAFT_CONV_CACHE": "off", "HOME": "/home/u"]))
        XCTAssertEqual(ConvolutionChoiceCache.standard(environment: ["GRAFT_CONV_CACHE": "/tmp/c.json", "HOME": "/home/u"])?.path, "/tmp/c.json")
        XCTAssertEqual(ConvolutionChoiceCache.standard(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/home/u"])?.path,
                       "/x/graft/conv-choices.json")
        XCTAssertEqual(ConvolutionChoiceCache.standard(environment: ["XDG_CACHE_HOME": "relative", "HOME": "/home/u"])?.path,
                       "/home/u/.cache/graft/conv-choices.json")
        XCTAssertNil(ConvolutionChoiceCache.standard(environment: [:]))
    }

    /// `GRAFT_CONV_CACHE` is the user's (or a stranger's environment): a folder, a file under a
    /// file, a place nothing can be written (/proc), the root. None of them fails or hangs the
    /// run: nothing is read, the store says it did not write, and the tuner still chooses. A
    /// named pipe there is never read (no hang) and is replaced by the file, as a link is.
    func testHostileLocationsNeverFailTheRun() throws {
        let plain = dir.appendingPathComponent("plain").path, fifo = dir.appendingPathComponent("fifo").path
        XCTAssertTrue(FileManager.default.createFile(atPath: plain, contents: Data("x".utf8)))
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let pipe = try XCTUnwrap(ConvolutionChoiceCache.standard(environment: ["GRAFT_CONV_CACHE": fifo]))
        XCTAssertNil(pipe.timing(for: "k"))
        XCTAssertTrue(pipe.store(ms(10, 5), for: "k"))
        XCTAssertEqual(ConvolutionChoiceCache(path: fifo).timing(for: "k"), ms(10, 5), "a regular file now")
        for given in [dir.path, plain + "/below.json", "/proc/graft-conv-choices.json", "/"] {
            let cache = try XCTUnwrap(ConvolutionChoiceCache.standard(environment: ["GRAFT_CONV_CACHE": given]))
            XCTAssertNil(cache.timing(for: "k"), given)
            XCTAssertFalse(cache.store(ms(10, 5), for: "k"), given)
            let t = ConvolutionTuner(cache: cache)
            XCTAssertEqual(try t.algorithm(for: shape) { ms(100, 10) }, .winograd, given)
        }
        XCTAssertEqual(try String(contentsOfFile: plain, encoding: .utf8), "x")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["fifo", "plain"], "no temporary file left")
    }

    /// Under mpirun the root decides and every rank takes its decision without measuring.
    func testTheRootDecidesForEveryRank() throws {
        var channel: [[UInt8]] = []
        let root = tuner()
        root.agree = ConvolutionTuner.rootDecides(isRoot: true, broadcast: { channel.append($0); return $0 })
        XCTAssertEqual(try root.algorithm(for: shape) { ms(100, 10) }, .winograd)
        let follower = ConvolutionTuner(cache: nil)
        follower.agree = ConvolutionTuner.rootDecides(isRoot: false, broadcast: { _ in channel.removeFirst() })
        XCTAssertEqual(try follower.algorithm(for: shape) { XCTFail("a follower measured"); return ms(10, 100) }, .winograd)
        XCTAssertEqual(follower.decisions, root.decisions)
    }
}
