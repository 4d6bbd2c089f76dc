import Foundation

#if FUZZING
/// libFuzzer's own driver (`FuzzerDriver.cpp`), which parses `-max_total_time=...` and the
/// corpus folders and calls `callback` for every input.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: FuzzMain.Callback
) -> Int32
#endif

/// The `main` of every fuzz executable. Built with `-DFUZZING -sanitize=fuzzer` (`make fuzz`)
/// it hands over to libFuzzer's driver, with the target's `LLVMFuzzerTestOneInput` as the
/// callback; built plainly it replays the files named on the command line (`FuzzReplay`).
///
/// The executables keep their own `@main` rather than libFuzzer's `main`, because SwiftPM
/// links an executable's `main` to its module's entry point.
public enum FuzzMain {
    public typealias Callback = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

    public static func main(_ target: FuzzTarget, _ callback: Callback) -> Never {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
        #else
        FuzzReplay.main(target)
        exit(0)
        #endif
    }
}
