import Foundation

extension RGBImage {
    /// `_apply_op`'s geometric cases, through Geometry's (F.affine / F.rotate, NEAREST):
    /// ShearX/Y shear by `math.degrees(atan(magnitude))` about (0, 0), TranslateX/Y move by
    /// `int(magnitude)` pixels, Rotate turns by `magnitude` degrees.
    func applyingGeometric(_ op: AugmentOp, magnitude: Double, fill: [UInt8]) -> RGBImage {
        switch op {
        case .shearX: return Geometry.shearX(self, magnitude: magnitude, fill: fill)
        case .shearY: return Geometry.shearY(self, magnitude: magnitude, fill: fill)
        case .translateX: return Geometry.translateX(self, magnitude: magnitude, fill: fill)
        case .translateY: return Geometry.translateY(self, magnitude: magnitude, fill: fill)
        case .rotate: return Geometry.rotate(self, angle: magnitude, fill: fill)
        default: return applying(op, magnitude: magnitude, fill: fill)
        }
    }
}
