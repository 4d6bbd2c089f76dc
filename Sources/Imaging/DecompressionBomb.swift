/// Pillow's decompression-bomb check on open (`Image._decompression_bomb_check`): an image of
/// more than twice `MAX_IMAGE_PIXELS` (89,478,485) pixels raises `DecompressionBombError`.
enum DecompressionBomb {
    static let maxPixels = 2 * 89_478_485

    /// Why Pillow refuses a `width` x `height` image, or nil when it opens it.
    /// The sizes come from the file: up to 2^32 - 1 each (PNG's IHDR), whose product overflows
    /// an Int, so it is taken in UInt64, where it is exact (Python's integers never overflow).
    static func refusal(width: Int, height: Int) -> String? {
        let pixels = UInt64(max(width, 0) & 0xFFFF_FFFF) * UInt64(max(height, 0) & 0xFFFF_FFFF)
        return pixels > UInt64(maxPixels) ? "\(pixels) pixels: Pillow refuses it as a decompression bomb" : nil
    }
}
