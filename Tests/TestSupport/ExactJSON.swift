import Foundation

/// `ExactJSON.object(with:)` for tests, with every number read back exactly.
///
/// On Linux, JSONSerialization reads a 17-digit number one Double ulp off about half the time
/// (114,708 of 200,000 random doubles written by JSONEncoder; JSONDecoder misread none), so a test
/// that compares a figure Graft wrote with the one it computed fails now and then, whenever the
/// run's figure happens to be one of those. This reads with JSONDecoder and gives the same shapes
/// JSONSerialization gives: `[String: Any]`, `[Any]`, `String`, `Bool`, `NSNull`, and numbers as
/// `NSNumber` (so `as? Int` and `as? Double` both work as before). A whole number that fits an
/// Int (or a UInt64) is read as one, as JSONSerialization reads it: seeds and counters stay exact,
/// and a Double of 2^53 or more written in exponent form (none in Graft's files) is not `as? Double`.
public enum ExactJSON {
    public static func object(with data: Data) throws -> Any {
        try JSONDecoder().decode(Value.self, from: data).object
    }

    private enum Value: Decodable {
        case null, bool(Bool), integer(Int), unsigned(UInt64), double(Double), string(String), array([Value]), object([String: Value])

        init(from decoder: Decoder) throws {
            if var items = try? decoder.unkeyedContainer() {
                var array: [Value] = []
                while !items.isAtEnd { array.append(try items.decode(Value.self)) }
                self = .array(array)
                return
            }
            if let keyed = try? decoder.container(keyedBy: Key.self) {
                var object: [String: Value] = [:]
                for key in keyed.allKeys { object[key.stringValue] = try keyed.decode(Value.self, forKey: key) }
                self = .object(object)
                return
            }
            let single = try decoder.singleValueContainer()
            if single.decodeNil() { self = .null }
            else if let b = try? single.decode(Bool.self) { self = .bool(b) }
            else if let i = try? single.decode(Int.self) { self = .integer(i) }
            else if let u = try? single.decode(UInt64.self) { self = .unsigned(u) }
            else if let d = try? single.decode(Double.self) { self = .double(d) }
            else { self = .string(try single.decode(String.self)) }
        }

        var object: Any {
            switch self {
            case .null: return NSNull()
            case .bool(let b): return b
            case .integer(let i): return NSNumber(value: i)
            case .unsigned(let u): return NSNumber(value: u)
            case .double(let d): return NSNumber(value: d)
            case .string(let s): return s
            case .array(let a): return a.map(\.object)
            case .object(let o): return o.mapValues(\.object)
            }
        }
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
