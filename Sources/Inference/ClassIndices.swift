import Checkpoint
import Foundation
import Imaging

/// `class_indices.json` as the tutorial's train.py writes and predict.py reads it:
/// `json.dumps({"0": "daisy", ...}, indent=4)`, no trailing newline.
public struct ClassIndices: Equatable, Sendable {
    public let names: [String]

    public init(names: [String]) { self.names = names }

    public enum Failure: Error, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case invalid(path: String, reason: String)

        public var description: String {
            switch self {
            case let .unreadable(path, reason): return "\(path): cannot read class names: \(reason)"
            case let .invalid(path, reason):
                return "\(path): not a class_indices.json (\(reason)). Expected {\"0\": \"daisy\", \"1\": \"roses\", ...} as finetune writes it."
            }
        }
    }

    /// Reads the file; keys must be exactly "0"..."N-1".
    public init(contentsOf path: String) throws {
        // Only a regular file: a named pipe or a device under the name (beside downloaded weights,
        // where it is read unasked) would block or never end.
        let data: Data
        do { data = Data(try PathBytes.readRegularFile(path)) } catch {
            throw Failure.unreadable(path: path, reason: "\(error)")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw Failure.invalid(path: path, reason: "invalid JSON")
        }
        guard let dict = object as? [String: Any] else { throw Failure.invalid(path: path, reason: "not a JSON object") }
        var names = [String](repeating: "", count: dict.count)
        for (k, v) in dict {
            guard let i = Int(k), i >= 0, i < dict.count, String(i) == k else {
                throw Failure.invalid(path: path, reason: "key \"\(k)\" is not an index 0...\(dict.count - 1)")
            }
            guard let name = v as? String else { throw Failure.invalid(path: path, reason: "the value of \"\(k)\" is not a string") }
            names[i] = name
        }
        self.names = names
    }

    /// Exactly the bytes of `json.dumps({str(i): name}, indent=4)`.
    public var json: String {
        if names.isEmpty { return "{}" }
        return "{\n" + names.enumerated().map { "    \"\($0.offset)\": \(PythonFormat.jsonString($0.element))" }.joined(separator: ",\n") + "\n}"
    }

    /// Writes atomically (temporary file, then rename).
    public func write(to path: String) throws {
        try TemporaryFile.write(Array(json.utf8), to: path)
    }
}
