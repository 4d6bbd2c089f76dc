/// Hides the credentials of URLs (`http://user:secret@host/` → `http://user:***@host/`, a lone
/// user name or token → `***@`) wherever they appear in a text, so that a mirror's password
/// reaches no message, log or report. Everything else is left as written.
public enum URLRedaction {
    /// `text` with the userinfo of every `scheme://userinfo@host` in it redacted. Idempotent.
    public static func redact(_ text: String) -> String {
        guard text.contains("@"), text.contains("://") else { return text }
        var out = ""
        var rest = Substring(text)
        while let sep = rest.range(of: "://") {
            out += rest[..<sep.upperBound]
            rest = rest[sep.upperBound...]
            // The authority runs to the first '/', '?', '#' or line break; its userinfo to its
            // last '@' (a password with a raw '@' or space in it is hidden whole: better too much
            // than too little).
            let end = rest.firstIndex { "/?#".contains($0) || $0.isNewline } ?? rest.endIndex
            let authority = rest[..<end]
            guard let at = authority.lastIndex(of: "@") else { continue }
            let userInfo = authority[..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                out += userInfo[..<colon] + ":***"
            } else {
                out += "***"
            }
            rest = rest[at...]
        }
        return out + rest
    }
}
