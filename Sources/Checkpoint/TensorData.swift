import Foundation

/// One tensor of a checkpoint: its dtype, its shape and its values laid out contiguously in
/// row-major order, little-endian, in the stored dtype (strides and offsets already applied).
public struct TensorData: Equatable, Sendable {
    public let dtype: DType
    public let shape: [Int]
    /// `shape.product * dtype.size` bytes.
    public let bytes: [UInt8]

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        precondition(bytes.count == shape.reduce(1, *) * dtype.size, "byte count does not match shape")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A float32 tensor from values.
    public init(shape: [Int], floats: [Float]) {
        precondition(floats.count == shape.reduce(1, *), "value count does not match shape")
        self.dtype = .float32
        self.shape = shape
        self.bytes = floats.withUnsafeBytes { Array($0) }
    }

    /// An int64 tensor from values (`num_batches_tracked` is a 0-d int64).
    public init(shape: [Int], int64s: [Int64]) {
        precondition(int64s.count == shape.reduce(1, *), "value count does not match shape")
        self.dtype = .int64
        self.shape = shape
        self.bytes = int64s.withUnsafeBytes { Array($0) }
    }

    public var count: Int { shape.reduce(1, *) }

    /// The values converted to Float (float16 and bfloat16 widened exactly; integers converted).
    public func floats() -> [Float] {
        let n = count
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
            bytes.withUnsafeBytes { raw in
                switch dtype {
                case .float32:
                    for i in 0..<n { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)) }
                case .float64:
                    for i in 0..<n { out[i] = Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) }
                case .float16:
                    for i in 0..<n { out[i] = halfToFloat(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) }
                case .bfloat16:
                    for i in 0..<n { out[i] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16) }
                case .int64:
                    for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)) }
                case .int32:
                    for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)) }
                case .int16:
                    for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)) }
                case .int8:
                    for i in 0..<n { out[i] = Float(raw.load(fromByteOffset: i, as: Int8.self)) }
                case .uint8, .bool:
                    for i in 0..<n { out[i] = Float(raw[i]) }
                }
            }
            initialized = n
        }
    }

    /// The values as Int64 (integer dtypes and bool; floats truncated).
    public func int64s() -> [Int64] {
        if dtype == .int64 {
            return bytes.withUnsafeBytes { raw in (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) } }
        }
        return floats().map { Int64($0) }
    }
}

/// IEEE half → single, exact (no dependence on the platform's Float16).
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = Int((h >> 10) & 0x1F)
    let man = UInt32(h & 0x3FF)
    if exp == 0 {
        if man == 0 { return Float(bitPattern: sign) }
        // Subnormal: value = man * 2^-24.
        let v = Float(man) * Float(bitPattern: 0x3380_0000)  // 2^-24
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (man << 13)) }
    return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (man << 13))
}

extension TensorData {
    /// A floating-point tensor stored in another floating-point dtype (float32 → float16 or
    /// bfloat16 rounds to nearest even, as torch's `.half()` and `.bfloat16()` do). Other
    /// tensors (integers, bool) are returned unchanged.
    public func converted(to target: DType) -> TensorData {
        guard dtype.isFloatingPoint, target.isFloatingPoint, target != dtype else { return self }
        let values = floats()
        switch target {
        case .float32:
            return TensorData(shape: shape, floats: values)
        case .float16:
            let h = values.map(floatToHalf)
            return TensorData(dtype: .float16, shape: shape, bytes: h.withUnsafeBytes { Array($0) })
        case .bfloat16:
            let b = values.map(floatToBFloat16)
            return TensorData(dtype: .bfloat16, shape: shape, bytes: b.withUnsafeBytes { Array($0) })
        default:
            let d = values.map(Double.init)
            return TensorData(dtype: .float64, shape: shape, bytes: d.withUnsafeBytes { Array($0) })
        }
    }
}

/// float32 → bfloat16 bits, round to nearest even (NaN kept quiet).
func floatToBFloat16(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    if f.isNaN { return UInt16(bits >> 16) | 0x0040 }
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
}

/// float32 → IEEE half bits, round to nearest even, with subnormals, overflow to infinity.
func floatToHalf(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exp = Int((bits >> 23) & 0xFF)
    var man = bits & 0x7F_FFFF
    if exp == 0xFF { return sign | 0x7C00 | (man != 0 ? 0x200 : 0) }
    let e = exp - 127 + 15
    if e >= 31 { return sign | 0x7C00 }
    if e <= 0 {
        if e < -10 { return sign }
        man |= 0x80_0000
        let shift = UInt32(14 - e)
        var h = man >> shift
        let rem = man & ((1 << shift) - 1), half = UInt32(1) << (shift - 1)
        if rem > half || (rem == half && h & 1 == 1) { h += 1 }
        return sign | UInt16(h)
    }
    var h = UInt32(e) << 10 | (man >> 13)
    let rem = man & 0x1FFF
    if rem > 0x1000 || (rem == 0x1000 && h & 1 == 1) { h += 1 }   // may carry into the exponent: correct
    return sign | UInt16(h)
}
