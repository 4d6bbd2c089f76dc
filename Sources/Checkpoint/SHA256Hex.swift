import Crypto

/// The SHA-256 of `bytes` as 64 lowercase hex digits, through swift-crypto (BoringSSL's
/// SHA-256 on Linux): the torch.hub file-name check and the per-tensor digests of
/// `inspect_weights --json`.
public func sha256Hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    var hasher = SHA256()
    if bytes.withContiguousStorageIfAvailable({ hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }) == nil {
        hasher.update(data: Array(bytes))
    }
    let digits = Array("0123456789abcdef".utf8)
    var hex: [UInt8] = []
    hex.reserveCapacity(2 * SHA256.byteCount)
    for byte in hasher.finalize() {
        hex.append(digits[Int(byte >> 4)])
        hex.append(digits[Int(byte & 15)])
    }
    return String(decoding: hex, as: UTF8.self)
}
