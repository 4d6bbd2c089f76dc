import Foundation

/// The IDX files of MNIST and Fashion-MNIST (uncompressed): `idx3` images (N x rows x cols
/// bytes) and `idx1` labels, big-endian headers. Used by the demo to make an image folder.
public struct IDXDataset {
    public let rows: Int
    public let cols: Int
    public let images: [UInt8]
    public let labels: [UInt8]
    public var count: Int { labels.count }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// One of the two files is missing or unreadable.
        case unreadable(images: String, labels: String)
        /// The files do not start with IDX's image (0x0803) and label (0x0801) magic numbers.
        case notIDX(images: String, labels: String)
        /// The header's counts and sizes do not fit the files.
        case sizesDisagree(images: String)

        public var description: String {
            let hint = "Pass --idx the folder of Fashion-MNIST's uncompressed files (gunzip the .gz downloads)."
            switch self {
            case let .unreadable(i, l): return "cannot read \(i) or \(l). \(hint)"
            case let .notIDX(i, l): return "\(i) / \(l): not IDX image and label files. \(hint)"
            case .sizesDisagree(let i): return "\(i): sizes disagree with the header (a truncated or damaged file). \(hint)"
            }
        }
    }

    public init(images imagesPath: String, labels labelsPath: String) throws {
        guard let i = FileManager.default.contents(atPath: imagesPath), let l = FileManager.default.contents(atPath: labelsPath) else {
            throw Failure.unreadable(images: imagesPath, labels: labelsPath)
        }
        let ib = [UInt8](i), lb = [UInt8](l)
        func be32(_ b: [UInt8], _ o: Int) -> Int { b.count >= o + 4 ? Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]) : -1 }
        guard be32(ib, 0) == 0x0803, be32(lb, 0) == 0x0801 else { throw Failure.notIDX(images: imagesPath, labels: labelsPath) }
        let n = be32(ib, 4)
        rows = be32(ib, 8)
        cols = be32(ib, 12)
        guard n >= 0, rows > 0, cols > 0, be32(lb, 4) == n, ib.count >= 16 + n * rows * cols, lb.count >= 8 + n else {
            throw Failure.sizesDisagree(images: imagesPath)
        }
        images = Array(ib[16..<(16 + n * rows * cols)])
        labels = Array(lb[8..<(8 + n)])
    }

    public func image(_ i: Int) -> [UInt8] { Array(images[(i * rows * cols)..<((i + 1) * rows * cols)]) }
}
