/// An 8-bit RGB image: `pixels` holds `height` rows of `width` interleaved R, G, B bytes.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    /// An image of the given pixels; `pixels.count` must be `width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width >= 0, height >= 0, pixels.count == width * height * 3 else {
            throw ImagingError.invalidArgument(
                "RGBImage: \(pixels.count) bytes do not make a \(width)x\(height) RGB image (need \(width * height * 3))")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image filled with zeros (black).
    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        self.pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
    }

    /// Internal initialiser for callers that already checked the size.
    init(unchecked width: Int, _ height: Int, _ pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3)
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
