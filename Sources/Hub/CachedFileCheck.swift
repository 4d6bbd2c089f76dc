import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file found in torch.hub's cache is used only when its SHA-256 starts with the prefix in
/// its name (what torch.hub checks after a download): a wrong file there (an HTML error page
/// saved by hand, a truncated copy) would otherwise fail every later run the same way. A wrong
/// file is moved aside to `<name>.corrupt-<YYYYMMDD-HHMMSS>` beside it, never deleted, so that
/// the next download has the name free and the user can look at what was there.
enum CachedFileCheck {
    enum Verdict: Equatable {
        case good
        /// The file was wrong (`actual` SHA-256) and now lies at `movedTo`.
        case movedAside(movedTo: String, actual: String)
        /// The file was wrong, and gone by the time Graft moved it (another run moved it first).
        case gone
    }

    /// Checks `path`; throws `HubError.unreadableInCache` when it cannot be read and
    /// `HubError.wrongFileInCache` when it is wrong and cannot be moved aside.
    static func check(_ path: String, expectedPrefix: String, now: Date = Date()) throws -> Verdict {
        let actual: String
        do {
            actual = try Downloader.sha256Hex(of: path)
        } catch {
            throw HubError.unreadableInCache(path: path, reason: "\(error)")
        }
        if Downloader.matches(actual, expectedPrefix) { return .good }
        let base = path + ".corrupt-" + stamp(now)
        var aside = base
        var st = stat()
        var n = 1
        while lstat(aside, &st) == 0 && n < 100 {
            n += 1
            aside = base + "-\(n)"
        }
        if rename(path, aside) != 0 {
            if errno == ENOENT { return .gone }
            throw HubError.wrongFileInCache(path: path, expectedPrefix: expectedPrefix, actual: actual,
                                            reason: String(cString: strerror(errno)))
        }
        return .movedAside(movedTo: aside, actual: actual)
    }

    /// What a command says after moving a wrong file aside.
    static func note(path: String, movedTo: String, expectedPrefix: String, actual: String, downloading: Bool) -> String {
        "\(path) in the weights cache is not the file its name promises (its SHA-256 is \(actual), which does not start "
            + "with \(expectedPrefix)): moved it to \(movedTo) (delete that when you like)"
            + (downloading ? "; downloading the file again" : "")
    }

    /// Local time as `YYYYMMDD-HHMMSS`.
    static func stamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        localtime_r(&t, &parts)
        return String(format: "%04d%02d%02d-%02d%02d%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}
