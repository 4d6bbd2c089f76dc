import Foundation

/// The IDX files of MNIST and Fashion-MNIST (uncompressed): `idx3` images (N x rows x cols
/// bytes) and `idx1` labels, big-endian headers. Used by the demo to make an image folder.
public struct IDXDataset {
    public let rows: Int
    public let cols: Int
    public let images: [UInt8]
    public let labels: [UInt8]
    public var count: Int { labels.count }

    public enum Failure: Error, CustomStringConvertible {
        case bad(String)
        public var description: String { switch self { case .bad(let s): return s } }
    }

    public init(images imagesPath: String, labels labelsPath: String) throws {
        guard let i = FileManager.default.contents(atPath: imagesPath), let l = FileManager.default.contents(atPath: labelsPath) else {
            throw Failure.bad("cannot read \(imagesPath) or \(labelsPath)")
        }
        let ib = [UInt8](i), lb = [UInt8](l)
        func be32(_ b: [UInt8], _ o: Int) -> Int { b.count >= o + 4 ? Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]) : -1 }
        guard be32(ib, 0) == 0x0803, be32(lb, 0) == 0x0801 else { throw Failure.bad("\(imagesPath) / \(labelsPath): not IDX image and label files") }
        let n = be32(ib, 4)
        rows = be32(ib, 8)
        cols = be32(ib, 12)
        guard n >= 0, rows > 0, cols > 0, be32(lb, 4) == n, ib.count >= 16 + n * rows * cols, lb.count >= 8 + n else {
            throw Failure.bad("\(imagesPath): sizes disagree with the header")
        }
        images = Array(ib[16..<(16 + n * rows * cols)])
        labels = Array(lb[8..<(8 + n)])
    }

    public func image(_ i: Int) -> [UInt8] { Array(images[(i * rows * cols)..<((i + 1) * rows * cols)]) }
}
