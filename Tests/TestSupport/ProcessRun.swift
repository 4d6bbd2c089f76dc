import Foundation

/// Runs the project's executables from tests: the ones built beside the test bundle (`swift
/// build --build-tests`, which `make test` runs, builds them all), alone or under Open MPI's
/// mpirun, with a time limit, so that a hang fails the test instead of stalling the suite.
public enum ProcessRun {
    public struct Result {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        /// Whether the time limit killed it.
        public let timedOut: Bool
    }

    /// The built executable `name` beside this test bundle.
    public static func executable(_ name: String) throws -> URL {
        let dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let exe = dir.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: exe.path) else {
            throw ProcessRunError.notBuilt(exe.path)
        }
        return exe
    }

    /// `mpirun` from openmpi-bin (make test installs it).
    public static func mpirun() throws -> URL {
        for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/mpirun") {
            return URL(fileURLWithPath: dir + "/mpirun")
        }
        throw ProcessRunError.noMPIRun
    }

    /// The arguments that run `executable arguments` as `ranks` processes on this machine
    /// (as root too, more ranks than cores allowed, loopback only).
    public static func mpirunArguments(ranks: Int, executable: URL, arguments: [String]) -> [String] {
        ["--allow-run-as-root", "--oversubscribe", "--mca", "btl_tcp_if_include", "lo",
         "--mca", "oob_tcp_if_include", "lo", "-np", String(ranks), executable.path] + arguments
    }

    /// Runs `executable arguments`; killed after `timeout` seconds.
    public static func run(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                           currentDirectory: URL? = nil, timeout: TimeInterval = 120) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        // GRAFT_CONV_CACHE=off: a command run by a test keeps no conv choice cache (none in the
        // real home); a test may give its own file in `environment`.
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["SWIFT_BACKTRACE": "enable=no", "GRAFT_CONV_CACHE": "off"].merging(environment) { $1 }) { $1 }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        // Output to files, so that a chatty child never blocks on a full pipe.
        let tmp = Scratch.root
        let outURL = tmp.appendingPathComponent("graft-run-\(getpid())-\(UUID().uuidString).out")
        let errURL = tmp.appendingPathComponent("graft-run-\(getpid())-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outURL); try? FileManager.default.removeItem(at: errURL) }
        let outHandle = try FileHandle(forWritingTo: outURL), errHandle = try FileHandle(forWritingTo: errURL)
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                kill(-process.processIdentifier, SIGKILL)
                process.terminate()
                break
            }
            usleep(20_000)
        }
        process.waitUntilExit()
        try? outHandle.close(); try? errHandle.close()
        let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return Result(status: process.terminationStatus, stdout: out, stderr: err, timedOut: timedOut)
    }

    /// Runs the built executable `name` as `ranks` processes under mpirun.
    public static func mpi(ranks: Int, _ name: String, _ arguments: [String], environment: [String: String] = [:],
                           currentDirectory: URL? = nil, timeout: TimeInterval = 120) throws -> Result {
        let exe = try executable(name)
        return try run(try mpirun(), mpirunArguments(ranks: ranks, executable: exe, arguments: arguments),
                       environment: environment, currentDirectory: currentDirectory, timeout: timeout)
    }
}

public enum ProcessRunError: Error, CustomStringConvertible {
    case notBuilt(String)
    case noMPIRun

    public var description: String {
        switch self {
        case .notBuilt(let path): return "\(path) is not built; run `swift build --build-tests` (make test does) first"
        case .noMPIRun: return "mpirun is not installed (Debian's openmpi-bin; make test installs it)"
        }
    }
}
