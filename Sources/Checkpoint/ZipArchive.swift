import CZip
import Foundation

/// A read-only zip archive through libzip: the central directory decides names and sizes
/// (torch's local headers hold zeros), stored and deflated entries, ZIP64. It reads the file's
/// bytes that `Checkpoint` already holds (libzip's buffer source), never the file again.
final class ZipArchive {
    let path: String
    private let archive: OpaquePointer
    /// Entry names in central-directory order.
    let names: [String]
    private var index: [String: UInt64] = [:]
    let fileSize: Int

    /// Deflate cannot expand data more than ~1032:1; a larger declared ratio is a bomb.
    static let maxCompressionRatio = 1100

    /// Opens the zip held in `file`, the whole of the file at `path` (named in errors). libzip
    /// neither copies nor frees these bytes: the caller keeps them valid, unchanged, for as
    /// long as it reads entries (`Checkpoint` reads every tensor inside `withUnsafeBytes`).
    init(file: UnsafeRawBufferPointer, path: String) throws {
        self.path = path
        var ze = zip_error_t()
        zip_error_init(&ze)
        defer { zip_error_fini(&ze) }
        var za: OpaquePointer?
        if let source = zip_source_buffer_create(file.baseAddress, UInt64(file.count), 0, &ze) {
            za = zip_open_from_source(source, ZIP_RDONLY, &ze)
            // On success the archive owns the source; on failure it is still the caller's.
            if za == nil { zip_source_free(source) }
        }
        guard let za else {
            // The message of the bare error code, as `zip_open` on the file would give.
            let err = zip_error_code_zip(&ze)
            var coded = zip_error_t()
            zip_error_init_with_code(&coded, err)
            let msg = String(cString: zip_error_strerror(&coded))
            zip_error_fini(&coded)
            if err == ZIP_ER_NOZIP || err == ZIP_ER_INCONS {
                throw CheckpointError.truncated(path: path, what: "the zip directory is missing or inconsistent (\(msg))")
            }
            throw CheckpointError.malformed(path: path, what: "zip archive: \(msg)")
        }
        archive = za
        fileSize = file.count
        let n = zip_get_num_entries(za, 0)
        guard n >= 0, n < 1_000_000 else {
            zip_discard(za)
            throw CheckpointError.malformed(path: path, what: "zip archive with \(n) entries")
        }
        var names: [String] = []
        for i in 0..<UInt64(n) {
            guard let c = zip_get_name(za, i, ZIP_FL_ENC_RAW) else { continue }
            let name = String(cString: c)
            if index[name] != nil {
                zip_discard(za)
                throw CheckpointError.malformed(path: path, what: "zip entry '\(name)' appears twice")
            }
            index[name] = i
            names.append(name)
        }
        self.names = names
    }

    deinit { zip_discard(archive) }

    func contains(_ name: String) -> Bool { index[name] != nil }

    /// The declared (uncompressed) size of an entry.
    func size(of name: String) throws -> Int {
        try stat(name).size
    }

    private func stat(_ name: String) throws -> (index: UInt64, size: Int, compressedSize: Int, method: Int32) {
        guard let i = index[name] else { throw CheckpointError.malformed(path: path, what: "zip entry '\(name)' is missing") }
        var st = zip_stat_t()
        zip_stat_init(&st)
        guard zip_stat_index(archive, i, 0, &st) == 0 else {
            throw CheckpointError.malformed(path: path, what: "cannot read zip entry '\(name)': \(String(cString: zip_strerror(archive)))")
        }
        guard st.valid & UInt64(ZIP_STAT_SIZE) != 0, st.size < UInt64(Int.max) else {
            throw CheckpointError.malformed(path: path, what: "zip entry '\(name)' has no size")
        }
        return (i, Int(st.size), Int(clamping: st.comp_size), Int32(st.comp_method))
    }

    /// Reads a whole entry into memory charged to `budget`. Sizes are checked against the file
    /// and the budget before anything is allocated or inflated, and no more than the declared
    /// size is ever inflated.
    func read(_ name: String, budget: MemoryBudget) throws -> [UInt8] {
        let s = try stat(name)
        switch s.method {
        case 0: // ZIP_CM_STORE
            guard s.size <= fileSize else {
                throw CheckpointError.truncated(path: path, what: "zip entry '\(name)' declares \(s.size) bytes, more than the whole file (\(fileSize))")
            }
        case 8: // ZIP_CM_DEFLATE
            // (compressedSize first: a forged ZIP64 size would overflow the product.)
            guard s.compressedSize <= fileSize, s.size <= max(s.compressedSize, 1) * ZipArchive.maxCompressionRatio else {
                throw CheckpointError.zipBomb(path: path, record: name,
                    what: "it declares \(s.size) bytes from \(s.compressedSize) compressed, more than deflate can produce")
            }
        default:
            throw CheckpointError.malformed(path: path, what: "zip entry '\(name)' uses compression method \(s.method); only stored and deflated entries are read")
        }
        guard let f = zip_fopen_index(archive, s.index, 0) else {
            throw CheckpointError.malformed(path: path, what: "cannot open zip entry '\(name)': \(String(cString: zip_strerror(archive)))")
        }
        defer { zip_fclose(f) }
        // Read exactly the declared size: a stream that would give more is cut there, one
        // that gives less is truncated. (CRCs are not checked: torch may write zero CRCs.)
        let out = try budget.bytes(s.size, "zip record '\(name)'") { buffer in
            var got = 0
            while got < s.size, let base = buffer.baseAddress {
                let n = zip_fread(f, base + got, UInt64(min(s.size - got, 1 << 30)))
                if n < 0 {
                    throw CheckpointError.truncated(path: path, what: "zip entry '\(name)' cannot be read: \(String(cString: zip_file_strerror(f)))")
                }
                if n == 0 { break }
                got += Int(n)
            }
            guard got == s.size else {
                throw CheckpointError.truncated(path: path, what: "zip entry '\(name)' holds \(got) of its \(s.size) bytes")
            }
        }
        // The stream must end where the directory says: one that inflates past its declared
        // size is a zip bomb (or corrupt). A CRC error at the end is tolerated (see above).
        var probe: UInt8 = 0
        let extra = zip_fread(f, &probe, 1)
        if extra > 0 {
            throw CheckpointError.zipBomb(path: path, record: name, what: "it inflates to more than its declared \(s.size) bytes")
        }
        if extra < 0, zip_error_code_zip(zip_file_get_error(f)) != ZIP_ER_CRC {
            throw CheckpointError.malformed(path: path, what: "zip entry '\(name)': \(String(cString: zip_file_strerror(f)))")
        }
        return out
    }
}
