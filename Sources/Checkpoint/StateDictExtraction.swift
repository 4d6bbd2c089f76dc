/// Finds the state dict inside what a checkpoint's pickle holds: a bare state dict, a training
/// checkpoint dict holding one (`state_dict`, `model`, `model_state_dict`, `net`), or, with
/// `allowObjects`, a whole pickled module walked as `state_dict()` would.
enum StateDictExtraction {
    struct Found {
        var tensors: [(String, TensorRef)] = []
        var removedPrefix: String?
        var containerKey: String?
        var notes: [String] = []
        var wrapperProblem: CheckpointError?
        /// Modules entered by `walkModule` (a module shared at many levels is entered once per
        /// path, as `state_dict()` does, so the count is bounded, not the depth alone).
        var modulesWalked = 0
    }

    /// The most modules a whole pickled model may hold along all its paths: resnet152 has 500.
    static let maxModulesWalked = 100_000

    static let containerKeys = ["state_dict", "model_state_dict", "model", "net", "module", "state_dict_ema", "model_ema", "ema"]
    static let strippedPrefixes = ["module.", "_orig_mod."]
    static let maxDepth = 100

    static func extract(_ object: PyValue, path: String, allowObjects: Bool, models: [ModelKeys]) throws -> Found {
        var found = Found()
        if case .dict(let top) = object, isStateDict(top) {
            try collect(top, into: &found, path: path)
        } else if case .dict(let top) = object,
                  let key = containerKeys.first(where: { top[$0] != nil && containsTensors(top[$0]!, allowObjects: allowObjects) }) {
            found.containerKey = key
            let inner = top[key]!
            if case .dict(let d) = inner { try collect(d, into: &found, path: path) }
            else { try walkModule(inner, prefix: "", depth: 0, into: &found, path: path) }
            let others = top.keys.compactMap(\.asString).filter { $0 != key }
            if !others.isEmpty { found.notes.append("read the state dict under '\(key)'; left out: \(others.joined(separator: ", "))") }
        } else if case .object = object, allowObjects {
            try walkModule(object, prefix: "", depth: 0, into: &found, path: path)
            found.notes.append("extracted the tensors of a whole pickled \(object.typeName) without running any of its code")
        } else {
            throw CheckpointError.noStateDict(path: path, what: "the file holds a \(object.typeName)"
                + (object.asDict.map { " with keys \($0.keys.compactMap(\.asString).prefix(10).joined(separator: ", "))" } ?? "")
                + " and none of them is a dict of tensors")
        }
        guard !found.tensors.isEmpty else { throw CheckpointError.noStateDict(path: path, what: "no tensors in the file") }
        try stripPrefixes(&found, path: path, models: models)
        return found
    }

    private static func isStateDict(_ d: PyDict) -> Bool {
        d.count > 0 && d.values.contains { $0.asTensor != nil } && !containerKeys.contains { d[$0]?.asDict != nil }
    }

    private static func containsTensors(_ v: PyValue, allowObjects: Bool) -> Bool {
        if case .dict(let d) = v { return d.values.contains { $0.asTensor != nil } }
        if case .object = v { return allowObjects }
        return false
    }

    private static func collect(_ d: PyDict, into found: inout Found, path: String) throws {
        var dropped: [String] = []
        for (k, v) in d.pairs {
            guard let name = k.asString else { dropped.append("a \(k.typeName) key"); continue }
            if let t = v.asTensor { found.tensors.append((name, t)) } else { dropped.append("\(name) (\(v.typeName))") }
        }
        if !dropped.isEmpty { found.notes.append("left out entries that are not tensors: \(dropped.joined(separator: ", "))") }
    }

    /// `module.state_dict()`: own parameters, then persistent buffers, then children by name.
    private static func walkModule(_ v: PyValue, prefix: String, depth: Int, into found: inout Found, path: String) throws {
        guard depth < maxDepth else { throw CheckpointError.tooDeep(path: path, limit: maxDepth) }
        guard case .object(let o) = v, let state = o.state?.asDict else { return }
        found.modulesWalked += 1
        guard found.modulesWalked <= maxModulesWalked else {
            throw CheckpointError.malformed(path: path, what: "the pickled model reaches more than \(maxModulesWalked) "
                + "modules along its paths (resnet152 has about 500): modules shared at many levels. Refusing it")
        }
        let nonPersistent = Set((state["_non_persistent_buffers_set"]?.elements ?? []).compactMap(\.asString))
        for field in ["_parameters", "_buffers"] {
            guard let d = state[field]?.asDict else { continue }
            for (k, value) in d.pairs {
                guard let name = k.asString, let t = value.asTensor else { continue }
                if field == "_buffers" && nonPersistent.contains(name) { continue }
                guard found.tensors.count < maxModulesWalked else {
                    throw CheckpointError.malformed(path: path, what: "the pickled model holds more than \(maxModulesWalked) "
                        + "tensors along its paths (resnet152 has about 1,000): modules shared at many levels. Refusing it")
                }
                found.tensors.append((prefix + name, t))
            }
        }
        if let children = state["_modules"]?.asDict {
            for (k, child) in children.pairs {
                guard let name = k.asString else { continue }
                try walkModule(child, prefix: prefix + name + ".", depth: depth + 1, into: &found, path: path)
            }
        }
    }

    /// The prefix a user's module put before the loader's model's keys (`backbone.`,
    /// `module.model.`: see `ModelPrefix`), when every key has it; else DataParallel's
    /// `module.` and torch.compile's `_orig_mod.`, when every key has them. The model among
    /// other keys, or several of it, is recorded as `wrapperProblem` and nothing is guessed.
    private static func stripPrefixes(_ found: inout Found, path: String, models: [ModelKeys]) throws {
        var removed = ""
        func strip(_ p: String) {
            found.tensors = found.tensors.map { (String($0.0.dropFirst(p.count)), $0.1) }
            removed += p
        }
        // The first model the keys hold, under any prefix.
        let keys = found.tensors.map(\.0)
        if let (model, place) = models.lazy.map({ ($0, ModelPrefix(keys: keys, model: $0)) }).first(where: { $0.1 != .none }) {
            switch place {
            case .found(let p):
                strip(p)
            case .outside(let p, let keys) where !p.isEmpty:
                found.wrapperProblem = .keysOutsideModel(path: path, model: model, prefix: p, keys: keys)
            case .several(let prefixes):
                found.wrapperProblem = .severalModels(path: path, model: model, prefixes: prefixes)
            default:
                break
            }
        }
        if removed.isEmpty {
            while let p = strippedPrefixes.first(where: { p in found.tensors.allSatisfy { $0.0.hasPrefix(p) } }) { strip(p) }
        }
        if !removed.isEmpty { found.removedPrefix = removed }
        // Old spellings of the model's keys, renamed as torchvision's loader renames them.
        if let join = models.first(where: { ModelPrefix(keys: found.tensors.map(\.0), model: $0) != .none })?.legacyJoin {
            var renamed = 0
            found.tensors = found.tensors.map { k, t in
                guard let new = join.renamed(k) else { return (k, t) }
                renamed += 1
                return (new, t)
            }
            if renamed > 0 {
                found.notes.append("renamed \(renamed) keys from the old spelling torchvision's loader renames (such as \(join.parent)1.norm.1.weight to \(join.parent)1.norm1.weight)")
            }
        }
        var seen = Set<String>()
        for (name, _) in found.tensors where !seen.insert(name).inserted {
            throw CheckpointError.malformed(path: path, what: "key '\(name)' appears twice")
        }
    }
}
