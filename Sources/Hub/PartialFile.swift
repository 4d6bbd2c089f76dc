import Crypto
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file a download writes to before its hash is checked and it is renamed into place,
/// opened so that nothing already at its name is ever written through (a cache folder may be
/// shared, TORCH_HOME with other users):
/// - `.<file>.partial` beside the destination is resumed only when it is a regular file of this
///   user with one link, opened without following links and checked again once open;
/// - a symbolic link there is removed (the link, never its target); anything else there (another
///   user's file, a hard link, a FIFO) is left alone and the download goes to a fresh random
///   name, `.<file>.<16 hex>.partial`, which cannot be resumed;
/// - a new file is created with O_CREAT|O_EXCL|O_NOFOLLOW, so it is always a new file.
/// Every write, read and truncation goes through the one descriptor; the name is touched again
/// only to rename or remove it, and only while it is still the file behind the descriptor.
final class PartialFile: Sendable {
    let path: String
    let fd: Int32
    /// Whether `path` is the fixed `.<file>.partial`, which a later run resumes.
    let resumable: Bool

    private let closed = Atomic<Bool>(false)

    private init(path: String, fd: Int32, resumable: Bool) {
        self.path = path
        self.fd = fd
        self.resumable = resumable
    }

    /// Closes the descriptor (and so releases the lock) now: URLSession keeps its delegate, and
    /// with it this file, a while after the download ends.
    func close() {
        if !closed.exchange(true, ordering: .sequentiallyConsistent) { _ = Glibc.close(fd) }
    }

    deinit { close() }

    enum OpenError: Error {
        /// Another process holds the fixed partial file's lock.
        case busy
        /// open(2) failed with this errno.
        case system(path: String, errno: Int32)
    }

    /// Opens (or creates) the partial file for `fixed` (`.<file>.partial`) and takes its lock.
    static func make(fixed: String) throws -> PartialFile {
        if let fd = try openFixed(fixed) {
            if flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK {
                Glibc.close(fd)
                throw OpenError.busy
            }
            // Another error (ENOLCK: a file system without locks): go on unlocked.
            return PartialFile(path: fixed, fd: fd, resumable: true)
        }
        let folder = (fixed as NSString).deletingLastPathComponent
        let base = (fixed as NSString).lastPathComponent.dropLast(".partial".count)
        for _ in 0..<16 {
            var bytes = [UInt8](repeating: 0, count: 8)
            for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
            let path = folder + "/" + base + "." + bytes.map { String(format: "%02x", $0) }.joined() + ".partial"
            let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if fd >= 0 { return PartialFile(path: path, fd: fd, resumable: false) }
            if errno != EEXIST { throw OpenError.system(path: path, errno: errno) }
        }
        throw OpenError.system(path: fixed, errno: EEXIST)
    }

    /// The descriptor of `fixed` when it is (or can be made) this download's own resumable
    /// file; nil when something else is there that must be left alone.
    private static func openFixed(_ fixed: String) throws -> Int32? {
        var st = stat()
        if lstat(fixed, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFLNK {
                // Planted or stale: remove the link itself, then create a file of our own.
                guard unlink(fixed) == 0 else { return nil }
            } else if isOwnRegularFile(st) {
                let fd = open(fixed, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
                guard fd >= 0 else { return nil }
                var now = stat()
                guard fstat(fd, &now) == 0, isOwnRegularFile(now), now.st_dev == st.st_dev, now.st_ino == st.st_ino else {
                    Glibc.close(fd)
                    return nil
                }
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
                return fd
            } else {
                return nil
            }
        }
        let fd = open(fixed, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        if fd >= 0 { return fd }
        if errno == EEXIST || errno == ELOOP { return nil }  // planted meanwhile: leave it
        throw OpenError.system(path: fixed, errno: errno)
    }

    private static func isOwnRegularFile(_ st: stat) -> Bool {
        (st.st_mode & S_IFMT) == S_IFREG && st.st_uid == geteuid() && st.st_nlink == 1
    }

    /// Bytes in the file now.
    var size: Int64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Empties the file for a fresh body; errno on failure.
    func truncate() -> Int32? {
        if ftruncate(fd, 0) != 0 { return errno }
        return lseek(fd, 0, SEEK_SET) < 0 ? errno : nil
    }

    /// Moves the write position to the end (a resumed body appends); errno on failure.
    func seekToEnd() -> Int32? {
        lseek(fd, 0, SEEK_END) < 0 ? errno : nil
    }

    /// Writes all of `data` at the write position; errno on failure.
    func append(_ data: Data) -> Int32? {
        data.withUnsafeBytes { raw -> Int32? in
            guard var p = raw.baseAddress else { return nil }
            var left = raw.count
            while left > 0 {
                let n = write(fd, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { return ENOSPC }
                left -= n
                p += n
            }
            return nil
        }
    }

    /// Flushes to disk; errno on failure (EINVAL, a file system without fsync, is no failure).
    func sync() -> Int32? {
        fsync(fd) != 0 && errno != EINVAL ? errno : nil
    }

    /// The whole file's SHA-256 as lowercase hex, read through the descriptor.
    func sha256Hex() -> Result<String, ReadError> { Self.sha256Hex(fd: fd) }

    /// The SHA-256 of everything `fd` reads from offset 0, as lowercase hex, in 1 MiB chunks.
    static func sha256Hex(fd: Int32) -> Result<String, ReadError> {
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(ReadError(errno: errno))
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += off_t(n)
        }
        return .success(hasher.finalize().map { String(format: "%02x", $0) }.joined())
    }

    /// A read failed: the system's words for `errno`.
    struct ReadError: Error, CustomStringConvertible {
        let errno: Int32
        var description: String { String(cString: strerror(errno)) }
    }

    /// Whether `path` still names the file behind the descriptor.
    var isStillAtItsName: Bool {
        var named = stat(), open = stat()
        return lstat(path, &named) == 0 && fstat(fd, &open) == 0
            && named.st_dev == open.st_dev && named.st_ino == open.st_ino
    }

    /// Renames the file to `destination` (replacing what is there); errno on failure, ENOENT
    /// when the name no longer leads to this file.
    func move(to destination: String) -> Int32? {
        guard isStillAtItsName else { return ENOENT }
        return rename(path, destination) == 0 ? nil : errno
    }

    /// Removes the file's name when it still leads to this file; true when it is gone (or was
    /// never there).
    @discardableResult
    func remove() -> Bool {
        guard isStillAtItsName else { return true }
        return unlink(path) == 0 || errno == ENOENT
    }
}
