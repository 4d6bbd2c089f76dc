import Crypto

/// Hex SHA-256 of bytes (the fixtures pin pixels and tensors by their digests), through
/// swift-crypto, as Checkpoint's `sha256Hex` (which this test target does not import).
func sha256Hex(_ message: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(SHA256.hash(data: message).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}
