/// What a loader tells the reader about the model whose keys it wants, so that the reader can
/// find that model under a prefix when a user's own module wrapped it (`backbone.conv1.weight`,
/// `model.layer1.0...`, `module.model.` under DataParallel, any nesting). The reader knows
/// no model itself: the ResNet library describes torchvision's ResNet.
public struct ModelKeys: Sendable, Equatable {
    /// In messages: "a torchvision ResNet", "the ResNet"; in error categories and file names: `resnet`.
    public let name: String
    public let noun: String
    public let id: String
    /// The key a candidate prefix ends before (`conv1.weight`).
    public let anchor: String
    /// Keys that must all be under a prefix for a model to be there.
    public let required: [String]
    /// The model's top-level modules: keys under the prefix outside them are not the model's.
    public let modules: Set<String>
    /// How old checkpoints of the model spelled some keys, renamed as they are read (nil: none).
    public let legacyJoin: LegacyKeyJoin?

    public init(name: String, noun: String, id: String, anchor: String, required: [String], modules: Set<String>,
                legacyJoin: LegacyKeyJoin? = nil) {
        self.name = name; self.noun = noun; self.id = id; self.anchor = anchor; self.required = required; self.modules = modules
        self.legacyJoin = legacyJoin
    }
}

/// An old spelling of keys that torchvision's loader renames: a key ending in
/// `<parent><digits>.<module>.<index>.<tensor>`, with `module`, `index` and `tensor` from the
/// sets, loses the dot between module and index. DenseNet's download files
/// (`denselayer1.norm.1.weight` for `denselayer1.norm1.weight`): torchvision's
/// `_load_state_dict` regex `^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$`.
public struct LegacyKeyJoin: Sendable, Equatable {
    public let parent: String
    public let modules: Set<String>
    public let indices: Set<String>
    public let tensors: Set<String>

    public init(parent: String, modules: Set<String>, indices: Set<String>, tensors: Set<String>) {
        self.parent = parent; self.modules = modules; self.indices = indices; self.tensors = tensors
    }

    /// The key's new spelling, or nil when it is not an old one.
    public func renamed(_ key: String) -> String? {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 4 else { return nil }
        let n = parts.count
        let owner = parts[n - 4]
        let digits = owner.reversed().prefix { $0.isASCII && $0.isNumber }.count
        guard digits > 0, owner.dropLast(digits).hasSuffix(parent), modules.contains(String(parts[n - 3])),
              indices.contains(String(parts[n - 2])), tensors.contains(String(parts[n - 1])) else { return nil }
        return (parts[..<(n - 3)] + [parts[n - 3] + parts[n - 2], parts[n - 1]]).joined(separator: ".")
    }
}

/// Where a model sits among a state dict's keys. A candidate prefix is any `p` (empty, or
/// ending in `.`) with `p + anchor` among the keys; it holds the model when every required key
/// is under it. Keys not under the prefix, and keys under it that none of the model's
/// modules holds, lie outside the model.
enum ModelPrefix: Equatable {
    /// No model under any prefix.
    case none
    /// The keys are the model's as they stand (prefix "").
    case top
    /// Every key is under `prefix`, and what is left is the model's.
    case found(prefix: String)
    /// The model under `prefix` (may be ""), and keys outside it.
    case outside(prefix: String, keys: [String])
    /// Models under more than one prefix.
    case several(prefixes: [String])

    init(keys: [String], model: ModelKeys) {
        let all = Set(keys)
        var candidates: [String] = []
        var seen = Set<String>()
        for k in keys where k.hasSuffix(model.anchor) {
            let p = String(k.dropLast(model.anchor.count))
            guard p.isEmpty || p.hasSuffix("."), seen.insert(p).inserted else { continue }
            if model.required.allSatisfy({ all.contains(p + $0) }) { candidates.append(p) }
        }
        guard let prefix = candidates.first else { self = .none; return }
        guard candidates.count == 1 else { self = .several(prefixes: candidates); return }
        let outside = keys.filter { k in
            guard k.hasPrefix(prefix), let top = k.dropFirst(prefix.count).split(separator: ".").first else { return true }
            return !model.modules.contains(String(top))
        }
        if !outside.isEmpty { self = .outside(prefix: prefix, keys: outside) }
        else { self = prefix.isEmpty ? .top : .found(prefix: prefix) }
    }

    /// `model.backbone`, `model.models[0]`: where the model under `prefix` is, as Python
    /// spells it for a module named `model`.
    static func pythonPath(_ prefix: String) -> String {
        "model" + prefix.split(separator: ".").map { part in part.allSatisfy(\.isNumber) ? "[\(part)]" : ".\(part)" }.joined()
    }
}
