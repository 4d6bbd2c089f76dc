import Foundation

/// What a fuzz executable does when built without libFuzzer (`swift build`, `make test`):
/// runs the files named on the command line through its target once each, under the limits
/// `make fuzz` gives libFuzzer, so a saved crash can be replayed in a debugger.
///
///     .build/debug/FuzzCheckpoint Fixtures/fuzz/checkpoint/*
public enum FuzzReplay {
    /// The memory `make fuzz` allows (`-rss_limit_mb`), as an address-space limit here.
    public static let memoryLimitMB = 2048
    /// Twice the time `make fuzz` allows one input (`-timeout=5`), in seconds: this build is
    /// unoptimised.
    public static let timeoutSeconds: UInt32 = 10

    public static func main(_ target: FuzzTarget) {
        let files = CommandLine.arguments.dropFirst()
        guard !files.isEmpty else {
            print("usage: \(CommandLine.arguments[0]) FILE...  (runs each file through the \(target.rawValue) fuzz target)")
            print("Built without libFuzzer. `make fuzz FUZZ_TARGETS=\(target.rawValue)` builds and runs the fuzzer.")
            exit(2)
        }
        limitMemory()
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                print("\(file): cannot read")
                exit(2)
            }
            alarm(timeoutSeconds)
            let start = Date()
            target.run([UInt8](data))
            alarm(0)
            print("\(file): ok (\(Int(Date().timeIntervalSince(start) * 1000)) ms)")
        }
        FuzzScratch.remove()
    }

    /// Address space, with room for the runtime's own mappings over the data limit.
    static func limitMemory() {
        let bytes = rlim_t(memoryLimitMB + 1024) << 20
        var limit = rlimit(rlim_cur: bytes, rlim_max: bytes)
        setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
    }
}
