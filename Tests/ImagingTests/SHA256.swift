import Checkpoint

/// Hex SHA-256 of bytes (the fixtures pin pixels and tensors by their digests).
func sha256Hex(_ message: [UInt8]) -> String { SHA256.hex(message) }
