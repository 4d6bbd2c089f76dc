/// Finds where a torchvision ResNet sits among a state dict's keys when the user's own module
/// wrapped it: `backbone.conv1.weight`, `model.layer1.0...`, `module.model.` under
/// DataParallel, any nesting.
///
/// A candidate prefix is any `p` (empty, or ending in `.`) with `p + "conv1.weight"` among the
/// keys. It holds a ResNet when the keys under it have the stem (`conv1.weight`, `bn1.weight`)
/// and the first block of all four stages (`layerN.0.conv1.weight`). `fc` is not required: a
/// backbone saved without its classifier is still a ResNet (whoever needs `fc` says so).
/// Keys not under the prefix, and keys under it that no ResNet module holds (anything but
/// `conv1`, `bn1`, `layer1`...`layer4`, `fc`), lie outside the ResNet.
enum ResNetPrefix: Equatable {
    /// No ResNet under any prefix.
    case none
    /// The keys are a ResNet's as they stand (prefix "").
    case top
    /// Every key is under `prefix`, and what is left is a ResNet's.
    case found(prefix: String)
    /// A ResNet under `prefix` (may be ""), and keys outside it.
    case outside(prefix: String, keys: [String])
    /// ResNets under more than one prefix.
    case several(prefixes: [String])

    static let required = ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer2.0.conv1.weight",
                           "layer3.0.conv1.weight", "layer4.0.conv1.weight"]
    static let modules: Set<Substring> = ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]

    init(keys: [String]) {
        let all = Set(keys)
        var candidates: [String] = []
        var seen = Set<String>()
        for k in keys where k.hasSuffix("conv1.weight") {
            let p = String(k.dropLast("conv1.weight".count))
            guard p.isEmpty || p.hasSuffix("."), seen.insert(p).inserted else { continue }
            if ResNetPrefix.required.allSatisfy({ all.contains(p + $0) }) { candidates.append(p) }
        }
        guard let prefix = candidates.first else { self = .none; return }
        guard candidates.count == 1 else { self = .several(prefixes: candidates); return }
        let outside = keys.filter { k in
            guard k.hasPrefix(prefix), let top = k.dropFirst(prefix.count).split(separator: ".").first else { return true }
            return !ResNetPrefix.modules.contains(top)
        }
        if !outside.isEmpty { self = .outside(prefix: prefix, keys: outside) }
        else { self = prefix.isEmpty ? .top : .found(prefix: prefix) }
    }

    /// `model.backbone`, `model.models[0]`: where the ResNet under `prefix` is, as Python
    /// spells it for a module named `model`.
    static func pythonPath(_ prefix: String) -> String {
        "model" + prefix.split(separator: ".").map { part in part.allSatisfy(\.isNumber) ? "[\(part)]" : ".\(part)" }.joined()
    }
}
