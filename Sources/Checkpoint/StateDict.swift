/// An ordered map from state-dict key (`layer3.1.bn2.running_var`) to tensor, in the file's order.
public struct StateDict: Equatable, Sendable {
    public private(set) var keys: [String] = []
    private var values: [String: TensorData] = [:]

    public init() {}

    public init(_ pairs: [(String, TensorData)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// Setting a new key appends it; setting an existing key keeps its place; nil removes it.
    public subscript(key: String) -> TensorData? {
        get { values[key] }
        set {
            if let v = newValue {
                if values.updateValue(v, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// Pairs in order.
    public var items: [(key: String, value: TensorData)] { keys.map { ($0, values[$0]!) } }

    public static func == (a: StateDict, b: StateDict) -> Bool { a.keys == b.keys && a.values == b.values }
}
