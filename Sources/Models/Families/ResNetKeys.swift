import Checkpoint

extension ModelKeys {
    /// torchvision's ResNet as the checkpoint reader looks for it under a wrapper's prefix:
    /// the stem and the first block of every stage must be there; `fc` need not be (a backbone
    /// saved without its classifier is still a ResNet: whoever needs `fc` says so).
    public static let torchvisionResNet: ModelKeys = {
        let root = ModulePath.root
        let stages = (1...4).map { root.pp("layer\($0)") }
        let required = [root.pp("conv1")["weight"], root.pp("bn1")["weight"]] + stages.map { $0.pp(0).pp("conv1")["weight"] }
        let modules = ["conv1", "bn1", "fc"] + stages.map(\.description)
        return ModelKeys(name: "torchvision ResNet", noun: "ResNet", id: "resnet", anchor: root.pp("conv1")["weight"],
                         required: required, modules: Set(modules))
    }()
}

extension LoadOptions {
    /// How every loader of a ResNet reads a checkpoint: the ResNet found under a wrapper's prefix.
    public static func resNet(allowObjects: Bool = false, limits: ReadLimits = ReadLimits()) -> LoadOptions {
        LoadOptions(allowObjects: allowObjects, limits: limits, model: .torchvisionResNet)
    }
}

extension LoadOptions {
    /// How every loader of a model reads a checkpoint: the first family (`Families`) whose
    /// model its keys hold, found under a wrapper's prefix.
    public static func torchvisionModel(allowObjects: Bool = false, limits: ReadLimits = ReadLimits()) -> LoadOptions {
        var o = LoadOptions(allowObjects: allowObjects, limits: limits, model: Families.keys.first)
        o.alternatives = Array(Families.keys.dropFirst())
        return o
    }
}
