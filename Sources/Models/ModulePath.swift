/// A module's attribute path in torchvision's ResNet, which is also its state-dict prefix:
/// `ModulePath.root.pp("layer1").pp(0).pp("conv1")` is `layer1.0.conv1`, and `["weight"]` of
/// it is the key `layer1.0.conv1.weight` (candle's `vb.pp(...)`). Keys are composed here and
/// never parsed back.
public struct ModulePath: Hashable, Sendable, CustomStringConvertible {
    public let components: [String]

    public static let root = ModulePath(components: [])

    /// The child module `name` (an attribute, or an index of a Sequential).
    public func pp(_ name: String) -> ModulePath { ModulePath(components: components + [name]) }
    public func pp(_ index: Int) -> ModulePath { pp(String(index)) }

    /// The state-dict key of this module's tensor `name` (`weight`, `running_mean`...).
    public subscript(_ name: String) -> String { pp(name).description }

    /// The dotted path: `layer1.0.conv1`.
    public var description: String { components.joined(separator: ".") }
}
