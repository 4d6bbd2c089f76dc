import Checkpoint

/// The text and JSON reports of `inspect_weights`: a checkpoint read as a torchvision model.
public enum WeightsReport {
    /// `removed_prefix`: the wrapper prefix taken off every key (`module.`, `backbone.`), or
    /// null; `refused`: why predict and finetune refuse the file (keys outside the ResNet,
    /// several ResNets), or null.
    public static func json(_ c: Checkpoint, _ arch: ArchitectureGuess) -> String {
        var out = "{\"format\": \"\(c.format.rawValue)\", "
        out += "\"architecture\": \(arch.name.map { "\"\($0)\"" } ?? "null"), "
        out += "\"num_classes\": \(arch.name != nil ? arch.numClasses.map(String.init) ?? "null" : "null"), "
        out += "\"removed_prefix\": \(c.removedPrefix.map(jsonString) ?? "null"), "
        out += "\"refused\": \(c.wrapperProblem.map { jsonString("\($0)") } ?? "null"), "
        out += "\"tensors\": ["
        out += c.stateDict.items.map { key, t in
            "{\"name\": \(jsonString(key)), \"dtype\": \"\(t.dtype.rawValue)\", \"shape\": [\(t.shape.map(String.init).joined(separator: ", "))], \"sha256\": \"\(sha256Hex(t.bytes))\"}"
        }.joined(separator: ", ")
        out += "]}"
        return out
    }

    public static func text(_ c: Checkpoint, _ arch: ArchitectureGuess) -> String {
        var lines: [String] = []
        lines.append("file:         \(c.path)")
        lines.append("format:       \(c.format.rawValue)")
        if let name = arch.name {
            let layout = arch.family != "ResNet" ? "\(arch.family ?? "model"), convs per stage \(arch.blocks)"
                : "\(arch.bottleneck ? "Bottleneck" : "BasicBlock"), blocks \(arch.blocks)"
            lines.append("architecture: \(name) (\(layout)), "
                + (arch.numClasses.map { "\($0) classes" } ?? "no classifier (a backbone saved without it)"))
        } else if let custom = arch.custom, let family = arch.family {
            lines.append("architecture: \(custom) (\(family) at widths no torchvision variant has, convs per stage \(arch.blocks)), "
                + (arch.numClasses.map { "\($0) classes" } ?? "no classifier (a backbone saved without it)"))
        } else {
            lines.append("architecture: unknown")
        }
        if let k = c.containerKey { lines.append("container:    state dict read from key '\(k)'") }
        if let p = c.removedPrefix { lines.append("prefix:       removed '\(p)' from every key") }
        for note in c.notes { lines.append("note:         \(note)") }
        if let problem = c.wrapperProblem { lines.append("refused:      predict and finetune refuse this file: \(problem)") }
        lines.append("")
        let nameWidth = max(4, c.stateDict.keys.map(\.count).max() ?? 0)
        lines.append("name".padding(nameWidth) + "  dtype     shape")
        var params = 0, bytes = 0
        for (key, t) in c.stateDict.items {
            if !WeightsReport.isBuffer(key) { params += t.count }
            bytes += t.bytes.count
            lines.append(key.padding(nameWidth) + "  " + t.dtype.rawValue.padding(8) + "  [" + t.shape.map(String.init).joined(separator: ", ") + "]")
        }
        lines.append("")
        lines.append("\(c.stateDict.count) tensors, \(params.grouped) parameters, \(bytes.grouped) bytes")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Batch-norm statistics are buffers, not parameters (as torchvision counts them).
    static func isBuffer(_ key: String) -> Bool {
        key.hasSuffix(".running_mean") || key.hasSuffix(".running_var") || key.hasSuffix(".num_batches_tracked")
    }

    /// A JSON string literal, UTF-8 kept.
    public static func jsonString(_ s: String) -> String { JSONText.string(s, asciiOnly: false) }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

extension Int {
    /// 21,797,672
    var grouped: String {
        let s = String(self)
        var out = ""
        for (i, c) in s.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }
}
