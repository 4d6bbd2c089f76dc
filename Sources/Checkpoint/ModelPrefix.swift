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

    public init(name: String, noun: String, id: String, anchor: String, required: [String], modules: Set<String>) {
        self.name = name; self.noun = noun; self.id = id; self.anchor = anchor; self.required = required; self.modules = modules
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
