/// Pillow's decompression-bomb check on open (`Image._decompression_bomb_check`): an image of
/// more than twice `MAX_IMAGE_PIXELS` (89,478,485) pixels raises `DecompressionBombError`.
enum DecompressionBomb {
    static let maxPixels = 2 * 89_478_485

    /// Why Pillow refuses a `width` x `height` image, or nil when it opens it.
    static func refusal(width: Int, height: Int) -> String? {
        let pixels = width * height
        return pixels > maxPixels ? "\(pixels) pixels: Pillow refuses it as a decompression bomb" : nil
    }
}
