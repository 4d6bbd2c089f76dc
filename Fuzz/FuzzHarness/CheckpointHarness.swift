import Checkpoint
import Models
import Foundation

/// The checkpoint reader on hostile bytes: the input is written to a file (the reader takes
/// a path, and libzip reads it from disk) and loaded as `inspect_weights` loads it, once
/// weights-only and, when that refuses it, once with `allowObjects`, then summarised.
enum CheckpointHarness {
    /// One file per process, rewritten for every input. The name has no `-<hex>` suffix, so
    /// the torch.hub hash check stays out of the way.
    static let path: String = {
        let dir = FuzzScratch.folder("checkpoint")
        return dir + "/input.pth"
    }()

    static func run(_ bytes: [UInt8]) {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            fatalError("fuzz checkpoint: cannot write \(path)")
        }
        for allowObjects in [false, true] {
            do {
                let ckpt = try Checkpoint(contentsOf: path, options: .torchvisionModel(allowObjects: allowObjects))
                check(ckpt)
                return
            } catch {
                if String(describing: error).isEmpty { violated(.checkpoint, "an error with an empty message: \(error)") }
            }
        }
    }

    /// What a loaded checkpoint promises: every tensor's bytes match its shape and dtype, the
    /// keys are unique, and the report `inspect_weights` prints can be made from it.
    static func check(_ ckpt: Checkpoint) {
        let sd = ckpt.stateDict
        if Set(sd.keys).count != sd.keys.count { violated(.checkpoint, "duplicate keys in \(sd.keys)") }
        for (key, tensor) in sd.items {
            if tensor.shape.contains(where: { $0 < 0 }) { violated(.checkpoint, "\(key): negative shape \(tensor.shape)") }
            let count = tensor.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
            if tensor.bytes.count != count * tensor.dtype.size {
                violated(.checkpoint, "\(key): \(tensor.bytes.count) bytes for shape \(tensor.shape) of \(tensor.dtype)")
            }
        }
        let arch = ArchitectureGuess(sd)
        _ = WeightsReport.text(ckpt, arch)
        _ = WeightsReport.json(ckpt, arch)
    }
}
