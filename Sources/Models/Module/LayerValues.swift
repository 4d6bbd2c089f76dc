import Checkpoint
import Engine

/// Where a module tree or an inference plan reads the values of its layout's layers: a state
/// dict (by the layers' keys) or a live `ResNetModule`.
protocol LayerValues {
    func convWeight(_ u: ConvBNLayout) throws -> [Float]
    func batchNorm(_ u: ConvBNLayout) throws -> BatchNormParameters
    func linear(_ l: LinearLayout) throws -> (weight: [Float], bias: [Float])
}

/// A state dict's values, keys and shapes already checked by `ResNetSpec.detect`.
struct StateDictValues: LayerValues {
    let stateDict: StateDict

    func floats(_ key: String) throws -> [Float] {
        guard let t = stateDict[key] else { throw ResNetError.layoutMismatch(missing: [key], unexpected: [], wrongShapes: []) }
        guard t.dtype.isFloatingPoint else { throw ResNetError.unsupportedDType(key: key, dtype: t.dtype.rawValue) }
        return t.floats()
    }

    func convWeight(_ u: ConvBNLayout) throws -> [Float] { try floats(u.conv["weight"]) }

    func batchNorm(_ u: ConvBNLayout) throws -> BatchNormParameters {
        try BatchNormParameters(weight: floats(u.bn["weight"]), bias: floats(u.bn["bias"]),
                                runningMean: floats(u.bn["running_mean"]), runningVar: floats(u.bn["running_var"]), eps: 1e-5)
    }

    /// `num_batches_tracked`, 0 when the file has none (the classic torchvision files).
    func batchesTracked(_ u: ConvBNLayout) -> Int64 { stateDict[u.bn["num_batches_tracked"]]?.int64s().first ?? 0 }

    func linear(_ l: LinearLayout) throws -> (weight: [Float], bias: [Float]) {
        (try floats(l.path["weight"]), try floats(l.path["bias"]))
    }
}

/// A module tree's current values.
struct ModuleValues: LayerValues {
    private let units: [ModulePath: ConvBNModule]
    private let head: [ModulePath: TrainLinear]

    init(_ module: ResNetModule) {
        units = Dictionary(module.units.map { ($0.layout.conv, $0) }, uniquingKeysWith: { a, _ in a })
        head = Dictionary(zip(module.layout.head.map(\.path), module.head), uniquingKeysWith: { a, _ in a })
    }

    private func unit(_ u: ConvBNLayout) throws -> ConvBNModule {
        guard let m = units[u.conv] else { throw ResNetError.layoutMismatch(missing: [u.conv["weight"]], unexpected: [], wrongShapes: []) }
        return m
    }

    func convWeight(_ u: ConvBNLayout) throws -> [Float] { try unit(u).conv.weight.values }

    func batchNorm(_ u: ConvBNLayout) throws -> BatchNormParameters {
        let bn = try unit(u).bn
        return try BatchNormParameters(weight: bn.weight.values, bias: bn.bias.values, runningMean: bn.runningMean,
                                       runningVar: bn.runningVar, eps: 1e-5)
    }

    func linear(_ l: LinearLayout) throws -> (weight: [Float], bias: [Float]) {
        guard let fc = head[l.path] else { throw ResNetError.layoutMismatch(missing: [l.path["weight"]], unexpected: [], wrongShapes: []) }
        return (fc.weight.values, fc.bias.values)
    }
}
