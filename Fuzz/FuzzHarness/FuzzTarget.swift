/// The fuzz targets, by the name `make fuzz FUZZ_TARGETS=...` and `Fixtures/fuzz/<name>/`
/// use. Each runs one input through the public API a user's file reaches, and stops the
/// process (a finding) when an invariant of the result does not hold; errors are fine.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case checkpoint, jpeg, png, imagefolder, multipart

    /// Runs one input. Returns normally for a success or a thrown error alike.
    public func run(_ bytes: [UInt8]) {
        switch self {
        case .checkpoint: CheckpointHarness.run(bytes)
        case .jpeg: ImageHarness.run(bytes, only: .jpeg)
        case .png: ImageHarness.run(bytes, only: .png)
        case .imagefolder: ImageFolderHarness.run(bytes)
        case .multipart: MultipartHarness.run(bytes)
        }
    }

    /// The entry point libFuzzer calls (`LLVMFuzzerTestOneInput`), for the executables.
    public func run(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    }
}

/// Stops the process with a message naming the broken invariant: how a harness reports a
/// finding that is not a crash (libFuzzer saves the input as `crash-*`).
func violated(_ target: FuzzTarget, _ message: @autoclosure () -> String) -> Never {
    fatalError("fuzz \(target.rawValue): invariant violated: \(message())")
}
