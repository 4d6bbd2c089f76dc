import Foundation

extension RGBImage {
    /// `_apply_op`'s geometric cases, through Geometry (F.affine / F.rotate, NEAREST):
    /// ShearX/Y shear by `degrees(atan(magnitude))` about (0, 0), TranslateX/Y move by
    /// `int(magnitude)` pixels, Rotate turns by `magnitude` degrees.
    func applyingGeometric(_ op: AugmentOp, magnitude: Double, fill: [UInt8]) -> RGBImage {
        let shear = atan(magnitude) * 180 / Double.pi        // math.degrees(math.atan(m))
        switch op {
        case .shearX:
            return Geometry.affine(self, angle: 0, translate: (0, 0), scale: 1, shear: (shear, 0), center: (0, 0), fill: fill)
        case .shearY:
            return Geometry.affine(self, angle: 0, translate: (0, 0), scale: 1, shear: (0, shear), center: (0, 0), fill: fill)
        case .translateX:
            return Geometry.affine(self, angle: 0, translate: (Int(magnitude), 0), scale: 1, shear: (0, 0), fill: fill)
        case .translateY:
            return Geometry.affine(self, angle: 0, translate: (0, Int(magnitude)), scale: 1, shear: (0, 0), fill: fill)
        case .rotate:
            return Geometry.rotate(self, angle: magnitude, fill: fill)
        default:
            return applying(op, magnitude: magnitude, fill: fill)
        }
    }
}
