import Multipart

/// `graft serve`'s multipart/form-data uploads: the input is a Content-Type header's value, a
/// line end, then the body, as a client sends them. Invariants: the parts' bodies fit in the
/// body and do not overlap (their sizes sum to less than it), there are at most `maxParts`, and
/// every header name is a token.
enum MultipartHarness {
    static func run(_ bytes: [UInt8]) {
        guard let newline = bytes.firstIndex(of: 10) else { return }
        let contentType = String(decoding: bytes[..<newline], as: UTF8.self)
        let body = Array(bytes[(newline + 1)...])
        let (_, parameters) = FormData.parameters(contentType)
        guard let boundary = parameters["boundary"] else { return }
        guard let parts = try? FormData.parse(body, boundary: boundary, maxParts: 16) else { return }
        if parts.count > 16 { violated(.multipart, "\(parts.count) parts, more than maxParts 16") }
        let total = parts.reduce(0) { $0 + $1.body.count + $1.headers.count }
        if total > body.count { violated(.multipart, "parts hold \(total) bytes of a \(body.count)-byte body") }
        for part in parts {
            for h in part.headers where h.name.isEmpty || h.name.utf8.contains(where: { $0 <= 32 || $0 >= 127 || $0 == 58 }) {
                violated(.multipart, "header name \(Array(h.name.utf8)) is not a token")
            }
            _ = (part.name, part.filename)
        }
    }
}
