import Foundation
import Imaging
import Models

/// finetune's look, before the first epoch, at the free space where it saves: a disk too full for
/// the files each epoch writes otherwise shows only when the first save fails, an epoch's work
/// later ("No space left on device"). A warning, not a refusal: space may be freed meanwhile, and
/// some file systems report their free space loosely.
enum SaveSpace {
    /// A file each epoch saves, and its size in bytes (estimated before it exists).
    struct File: Equatable {
        let path: String
        let bytes: Int
    }

    /// The two big files each epoch saves: the model (its state dict) and the resume point (the
    /// model again, the optimizer's buffers for the trainable parameters, and `--ema-decay`'s
    /// average). Each in PyTorch's zip format: the tensors' bytes, plus the archive's entries.
    static func files(_ c: TrainConfig, model: Network) -> [File] {
        let state = model.stateDict()
        let modelBytes = state.items.reduce(0) { $0 + $1.value.bytes.count }
        let trainable = model.parameters.filter(\.trainable)
        let slots: Int
        switch c.optimizer.kind {
        case .adam, .adamw: slots = 2                                 // exp_avg, exp_avg_sq
        case .sgd: slots = c.optimizer.momentum != 0 ? 1 : 0          // momentum_buffer
        }
        let averaged = c.emaDecay != nil
        let optimizerBytes = trainable.reduce(0) { $0 + $1.count } * 4 * slots
        let resumeEntries = state.keys.count * (averaged ? 2 : 1) + trainable.count * slots + 1   // + the epoch
        return [File(path: c.output, bytes: modelBytes + archiveBytes(entries: state.keys.count)),
                File(path: ResumeState.paths(for: c).tensors,
                     bytes: modelBytes * (averaged ? 2 : 1) + optimizerBytes + archiveBytes(entries: resumeEntries))]
    }

    /// What an archive of `entries` tensors adds to their bytes: each entry's headers, padding
    /// and pickled description, and the archive's own records.
    static func archiveBytes(entries: Int) -> Int { 4096 + entries * 320 }

    /// Free bytes for this user on the disk that holds `path`'s folder; nil where it cannot be read.
    static func freeBytes(atFolderOf path: String) -> Int? {
        let folder = (path as NSString).deletingLastPathComponent
        var s = statvfs()
        guard statvfs(folder.isEmpty ? "." : folder, &s) == 0 else { return nil }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }

    /// The warning, or nil where `free` bytes hold the files. Each save writes a file beside the
    /// one it replaces and renames it into place, so a run needs room for all its files and one
    /// more of the largest; where they are `present` already (`--resume`), for that one more only.
    static func warning(_ files: [File], free: Int, present: Bool) -> String? {
        guard let largest = files.map(\.bytes).max() else { return nil }
        let total = files.reduce(0) { $0 + $1.bytes }
        let need = (present ? 0 : total) + largest
        guard free < need else { return nil }
        let folder = (files[0].path as NSString).deletingLastPathComponent
        let list = files.map { "\(TerminalText.escaped(($0.path as NSString).lastPathComponent)) (\(megabytes($0.bytes)))" }
            .joined(separator: " and ")
        let when = free < (present ? largest : total) ? "The save after the first epoch would fail" : "A save after a later epoch would fail"
        return "only \(megabytes(free)) free on the disk that holds \(folder.isEmpty ? "the current folder" : TerminalText.escaped(folder)): "
            + "each epoch saves \(list), which takes up to \(megabytes(need)) free (each file is written whole beside the one it replaces). "
            + "\(when) (\"No space left on device\"), after that epoch's work: make room now, or give --output a path on another disk"
    }

    static func megabytes(_ bytes: Int) -> String {
        bytes >= 10_000_000 ? "\(bytes / 1_000_000) MB" : String(format: "%.1f MB", Double(bytes) / 1_000_000)
    }
}
