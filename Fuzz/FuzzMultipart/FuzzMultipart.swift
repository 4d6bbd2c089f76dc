import FuzzHarness

/// The input callback libFuzzer looks for; `make fuzz` runs it on every input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.multipart.run(data, size)
}

@main
enum Main {
    static func main() { FuzzMain.main(.multipart, fuzz) }
}
