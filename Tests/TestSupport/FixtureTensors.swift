import Foundation

/// The fixture scripts' float32 files: a raw little-endian `.bin`, and named tensors in one
/// `.bin` with its index `.bin.json` (`[{"name", "shape", "offset"}]`, offset in bytes), as
/// gen_training.py's `write_tensors` writes them.
public enum FixtureTensors {
    struct Entry: Decodable { let name: String; let shape: [Int]; let offset: Int }

    /// Every float32 in the file.
    public static func floats(_ url: URL) throws -> [Float] {
        let d = try Data(contentsOf: url)
        return d.withUnsafeBytes { raw in (0..<d.count / 4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }

    /// The tensors of `url` with its `.json` index, in the index's order.
    public static func named(_ url: URL) throws -> [(name: String, values: [Float])] {
        let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: URL(fileURLWithPath: url.path + ".json")))
        let all = try floats(url)
        return try entries.map { e in
            let start = e.offset / 4, count = e.shape.reduce(1, *)
            guard e.offset % 4 == 0, start + count <= all.count else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: url.path])
            }
            return (e.name, Array(all[start..<(start + count)]))
        }
    }
}
