/// Words for a POSIX shell, for the commands messages suggest (`mkdir -p '…'`, `curl -o '…'`):
/// whatever a path or URL holds (quotes, `$(…)`, backticks, spaces, newlines), the pasted
/// command gets it as one word and runs nothing else.
public enum ShellQuote {
    /// `s` in single quotes, each `'` in it written `'\''`.
    public static func quote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
