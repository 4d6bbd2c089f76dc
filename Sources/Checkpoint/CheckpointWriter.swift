import CZip
import Foundation

extension StateDict {
    /// Writes the state dict as a zip `.pth` that `torch.load(path, weights_only=True)` reads
    /// back bit-exactly. Atomic: written to a temporary file in the same folder, then renamed,
    /// so an interruption never leaves a broken file at `path`.
    public func write(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let root = url.deletingPathExtension().lastPathComponent.isEmpty ? "archive" : url.deletingPathExtension().lastPathComponent
        let tmp = TemporaryFile.path(for: path)
        unlink(tmp)
        var err: Int32 = 0
        guard let za = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &err) else {
            throw CheckpointError.writeFailed(path: path, reason: "cannot create a zip file (libzip error \(err))")
        }
        func add(_ name: String, _ data: [UInt8]) throws {
            // libzip keeps the buffer until zip_close and frees it (freep = 1).
            let buffer = malloc(max(data.count, 1))!
            data.withUnsafeBytes { if $0.count > 0 { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            guard let source = zip_source_buffer(za, buffer, UInt64(data.count), 1) else {
                free(buffer)
                throw CheckpointError.writeFailed(path: path, reason: String(cString: zip_strerror(za)))
            }
            let index = zip_file_add(za, "\(root)/\(name)", source, zip_flags_t(ZIP_FL_ENC_UTF_8))
            guard index >= 0 else {
                zip_source_free(source)
                throw CheckpointError.writeFailed(path: path, reason: String(cString: zip_strerror(za)))
            }
            zip_set_file_compression(za, UInt64(index), ZIP_CM_STORE, 0)
            // A fixed time stamp, not the time of writing: the same state dict gives the same bytes
            // whenever it is written. 1980-01-01 00:00, the first DOS date (torch.save writes date 0,
            // which libzip cannot keep: it turns it into 1979-11-30).
            zip_file_set_dostime(za, UInt64(index), 0, 0x21, 0)
        }
        do {
            try add("data.pkl", PickleWriter.stateDict(self))
            try add("byteorder", Array("little".utf8))
            for (i, key) in keys.enumerated() { try add("data/\(i)", self[key]!.bytes) }
            try add("version", Array("3\n".utf8))
        } catch {
            zip_discard(za)
            unlink(tmp)
            throw error
        }
        guard zip_close(za) == 0 else {
            let reason = String(cString: zip_strerror(za))
            zip_discard(za)
            unlink(tmp)
            throw CheckpointError.writeFailed(path: path, reason: reason)
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw CheckpointError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }
}
