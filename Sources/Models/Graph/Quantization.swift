import Checkpoint
import Engine
import Foundation

/// What goes wrong with `--precision int8`.
public enum QuantizationError: Error, CustomStringConvertible, Equatable {
    /// The CPU has no VNNI or AMX (`isa`: oneDNN's effective instruction set).
    case int8Unavailable(isa: String)
    /// No calibration file beside the weights: `command` makes one.
    case calibrationMissing(path: String, command: String)
    /// The calibration file is of other weights (its sha256 is not theirs).
    case calibrationStale(path: String, command: String)
    /// The calibration file cannot be used (`why`).
    case calibrationInvalid(path: String, why: String)

    public var description: String {
        switch self {
        case .int8Unavailable(let isa):
            return "--precision int8 needs a CPU with VNNI or AMX (AVX512_VNNI: Intel Cascade Lake and later, AMD Zen 4 and later; "
                + "AVX-VNNI: Intel Alder Lake and later); this one runs oneDNN's \(isa) kernels, where int8 is "
                + Calibration.withoutVNNI + ". Use --precision f32 (or bf16 where the CPU has it)."
        case let .calibrationMissing(path, command):
            return "--precision int8 needs the activations' ranges of these weights, in \(path), which does not exist. Make it with: \(command)"
        case let .calibrationStale(path, command):
            return "\(path) was calibrated for other weights (its weights_sha256 is not this file's): calibrate again with: \(command)"
        case let .calibrationInvalid(path, why):
            return "\(path) is not a calibration file Graft can use: \(why)"
        }
    }
}

/// `graft calibrate`'s file (`<weights without .pth>.calibration.json`, beside the weights):
/// the range of every value of the folded inference plan over the calibration images, from
/// which `--precision int8` takes each activation's scale. JSON; see README, "int8".
public struct Calibration: Codable, Equatable, Sendable {
    public static let formatName = "graft-int8-calibration"
    public static let currentVersion = 1
    /// What int8 costs on a CPU without VNNI, as measured (README, "CPUs").
    public static let withoutVNNI = "not exact: oneDNN's int8 kernels without VNNI add u8 x s8 pairs in 16 bits, which saturate "
        + "(a conv on full-range values came out up to 65 of 255 levels off); measured under ONEDNN_MAX_CPU_ISA=AVX2 on an AMD EPYC, "
        + "resnet50 at batch 32 took 48 core-ms per image in int8 against 88 in f32"

    /// How each activation's clipping threshold is chosen from its recorded range.
    public enum Method: String, Codable, Sendable, CaseIterable {
        /// The largest magnitude seen.
        case max
        /// The 99.99th percentile of the magnitudes (`Range.p9999`), never above the largest.
        case percentile
        /// The threshold whose int8 levels lose the least information: the smallest KL divergence
        /// between the magnitudes' histogram and its quantised copy (TensorRT's and OpenVINO's
        /// entropy calibration; `Range.kl`). The images keep their largest magnitude.
        case kl
    }

    public var format: String
    public var version: Int
    /// The sha256 of the weights file calibrated (lowercase hex): another file's is refused.
    public var weightsSHA256: String
    /// `resnet18`, `vgg16_bn`...
    public var model: String
    public var method: Method
    /// How many images were run, and the eval transform's crop side.
    public var images: Int
    public var imageSize: Int
    /// One entry per value of the plan, by value number (the graph's: node `i` makes value `i + 1`).
    public var values: [Range]

    public struct Range: Codable, Equatable, Sendable {
        public var value: Int
        /// The state-dict path of the node that makes it (`layer1.0.relu` is a fused step's last node).
        public var node: String
        public var min: Float
        public var max: Float
        /// The 99.99th percentile of |x| (from a histogram of 32 bins per power of two: the upper
        /// edge of the bin holding it, within 2.2 %).
        public var p9999: Float
        /// `--method kl`'s threshold (`RangeRecorder.klThreshold`); absent from other methods' files.
        public var kl: Float?

        public init(value: Int, node: String, min: Float, max: Float, p9999: Float, kl: Float? = nil) {
            self.value = value; self.node = node; self.min = min; self.max = max; self.p9999 = p9999; self.kl = kl
        }

        /// The clipping threshold under `method` (never above the largest magnitude).
        public func threshold(_ method: Method) -> Float {
            let m = Swift.max(abs(min), abs(max))
            switch method {
            case .max: return m
            case .percentile: return Swift.min(p9999, m)
            case .kl: return Swift.min(kl ?? m, m)
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case format, version, weightsSHA256 = "weights_sha256", model, method, images, imageSize = "image_size", values
    }

    public init(weightsSHA256: String, model: String, method: Method, images: Int, imageSize: Int, values: [Range]) {
        format = Self.formatName; version = Self.currentVersion
        self.weightsSHA256 = weightsSHA256; self.model = model; self.method = method
        self.images = images; self.imageSize = imageSize; self.values = values
    }

    /// Where the calibration of `weights` lives: beside it, `.pth` (or any extension) replaced.
    public static func path(forWeights weights: String) -> String {
        let url = URL(fileURLWithPath: weights)
        let stem = url.pathExtension.isEmpty ? url.lastPathComponent : url.deletingPathExtension().lastPathComponent
        let name = stem + ".calibration.json"
        return weights.contains("/") ? url.deletingLastPathComponent().appendingPathComponent(name).path : name
    }

    /// The lowercase hex sha256 of a file's bytes.
    public static func sha256(ofFile path: String) throws -> String {
        sha256Hex([UInt8](try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)))
    }

    /// Reads and checks the calibration of `weights` (`sha256`: its file's): the format, the
    /// version, the weights' sha256, and every range finite.
    public static func read(path: String, weightsSHA256 sha256: String, command: String) throws -> Calibration {
        guard FileManager.default.fileExists(atPath: path) else { throw QuantizationError.calibrationMissing(path: path, command: command) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw QuantizationError.calibrationInvalid(path: path, why: "cannot be read (\(error.localizedDescription))")
        }
        struct Header: Decodable { let format: String?; let version: Int? }
        guard let header = try? JSONDecoder().decode(Header.self, from: data) else {
            throw QuantizationError.calibrationInvalid(path: path, why: "not a JSON object (truncated?)")
        }
        guard header.format == formatName else {
            throw QuantizationError.calibrationInvalid(path: path, why: "its format is \(header.format.map { "'\($0)'" } ?? "missing"), not '\(formatName)'")
        }
        guard header.version == currentVersion else {
            throw QuantizationError.calibrationInvalid(path: path,
                why: "version \(header.version.map(String.init) ?? "missing"); this Graft reads version \(currentVersion): calibrate again with: \(command)")
        }
        let c: Calibration
        do { c = try JSONDecoder().decode(Calibration.self, from: data) } catch {
            throw QuantizationError.calibrationInvalid(path: path, why: "\(error)")
        }
        guard c.weightsSHA256 == sha256 else { throw QuantizationError.calibrationStale(path: path, command: command) }
        for r in c.values where !(r.min.isFinite && r.max.isFinite && r.p9999.isFinite) || r.min > r.max || r.p9999 < 0
            || r.kl.map({ !$0.isFinite || $0 < 0 }) ?? (c.method == .kl) {
            throw QuantizationError.calibrationInvalid(path: path, why: "value \(r.value) (\(r.node)) has the range [\(r.min), \(r.max)], p9999 \(r.p9999)"
                                                       + (c.method == .kl ? ", kl \(r.kl.map { "\($0)" } ?? "missing")" : ""))
        }
        guard c.images > 0, Set(c.values.map(\.value)).count == c.values.count else {
            throw QuantizationError.calibrationInvalid(path: path, why: "\(c.images) images, or a value listed twice")
        }
        return c
    }

    /// The file's bytes: JSON, keys sorted, one range per line (the same ranges give the same bytes).
    public func encoded() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try e.encode(self)
    }

    func range(of value: Int) -> Range? { values.first { $0.value == value } }
}

/// The ranges of a model's values over batches of images: min, max, a histogram of |x|
/// (32 bins per power of two, from 2^-40) for the percentile, and a linear one for the KL
/// threshold. Order-independent: the same images in any batching give the same ranges.
public final class RangeRecorder {
    static let binsPerOctave = 32, lowestExponent = -40, binCount = 80 * 32
    /// Each value's counts, by value number.
    var counts: [Int: Counts] = [:]
    public private(set) var images = 0

    public init() {}

    /// What is counted of a value's entries: the range, the zeros and the two histograms. A
    /// tensor is counted in shares on the compute threads at once, and the shares are added to
    /// the value's counts (every statistic here adds up exactly, in any order).
    struct Counts {
        var lo = Float.infinity, hi = -Float.infinity, zeros = 0
        var log = [Int](repeating: 0, count: RangeRecorder.binCount)
        var linear = LinearHistogram()
        /// The first entry that is not finite.
        var bad: Float?

        init() {}

        init(_ xs: UnsafeBufferPointer<Float>) {
            for x in xs {
                guard x.isFinite else { bad = x; return }
                lo = min(lo, x); hi = max(hi, x)
                let a = abs(x)
                if a == 0 { zeros += 1; continue }
                let b = Int(((log2(a) - Float(RangeRecorder.lowestExponent)) * Float(RangeRecorder.binsPerOctave)).rounded(.down))
                log[min(max(b, 0), RangeRecorder.binCount - 1)] += 1
                linear.add(a)
            }
        }

        mutating func add(_ o: Counts) {
            lo = min(lo, o.lo); hi = max(hi, o.hi); zeros += o.zeros
            for i in log.indices { log[i] += o.log[i] }
            linear.add(o.linear)
            bad = bad ?? o.bad
        }
    }

    func record(_ value: Int, _ xs: [Float]) throws {
        // A share per compute thread, of at least 64K entries: a 224x224 ResNet's activations
        // are tens of millions of entries an image, and counting them took most of calibrate's time.
        let n = xs.count, shares = ComputeThreads.chunkCount(of: n, minimumPerChunk: 1 << 16)
        var parts = [Counts?](repeating: nil, count: shares)
        xs.withUnsafeBufferPointer { x in
            parts.withUnsafeMutableBufferPointer { p in
                ComputeThreads.forEachChunk(of: shares, minimumPerChunk: 1) { range in
                    for c in range { p[c] = Counts(UnsafeBufferPointer(rebasing: x[(n * c / shares)..<(n * (c + 1) / shares)])) }
                }
            }
        }
        var total = counts.removeValue(forKey: value) ?? Counts()   // uniquely referenced while added to
        for p in parts { total.add(p!) }
        if let x = total.bad { throw ModelError.badInput("value \(value) holds \(x) during calibration") }
        counts[value] = total
    }

    /// A histogram of the nonzero |x| in `count` equal bins over `[0, 2^exponent)`, the smallest
    /// such range holding every value seen: when a larger value comes, pairs of bins merge and the
    /// range doubles. A bin is `floor(|x| * count / 2^exponent)` (exact: a power-of-two scale), and
    /// merging pairs gives what counting in the wider bins would have, so the histogram does not
    /// depend on the order the values came in.
    struct LinearHistogram {
        static let count = 2048
        var bins = [Int](repeating: 0, count: count)
        /// nil until the first value.
        var exponent: Int? { didSet { if let e = exponent { limit = Self.power(e); scale = Float(Self.count) * Self.power(-e) } } }
        /// 2^exponent, and count / 2^exponent (a bin's index per unit).
        private var limit: Float = 0, scale: Float = 0

        static func power(_ e: Int) -> Float { Float(sign: .plus, exponent: e, significand: 1) }

        var width: Float { Self.power(exponent ?? 0) / Float(Self.count) }

        mutating func add(_ a: Float) {
            if exponent == nil { exponent = a.exponent + 1 }
            while a >= limit { widen() }
            bins[min(Int(a * scale), Self.count - 1)] += 1
        }

        /// Doubles the range: pairs of bins merge.
        mutating func widen() {
            for i in 0..<(Self.count / 2) { bins[i] = bins[2 * i] + bins[2 * i + 1] }
            for i in (Self.count / 2)..<Self.count { bins[i] = 0 }
            exponent = exponent! + 1
        }

        /// Adds another histogram's counts, both at the wider range of the two.
        mutating func add(_ other: LinearHistogram) {
            guard let e = other.exponent else { return }
            guard exponent != nil else { self = other; return }
            var o = other
            while exponent! < e { widen() }
            while o.exponent! < exponent! { o.widen() }
            for i in bins.indices { bins[i] += o.bins[i] }
        }
    }

    /// The clipping threshold of `value` whose quantisation to `levels` steps keeps the most of
    /// its distribution: of every candidate edge `i` of the linear histogram (from `levels` bins
    /// up to the largest value's), the one with the smallest KL divergence between `P` (the bins
    /// below `i`, the values above folded into the last) and `Q` (those bins merged into `levels`
    /// equal groups, each group's count spread over its nonempty bins), as TensorRT's entropy
    /// calibration does. Exact zeros are left out: they quantise exactly at any threshold. Nil
    /// without nonzero values.
    func klThreshold(_ value: Int, levels: Int) -> Float? {
        guard let l = counts[value]?.linear, l.exponent != nil else { return nil }
        let h = l.bins
        guard let top = h.lastIndex(where: { $0 > 0 }) else { return nil }
        let n = top + 1
        if n <= levels { return Float(n) * l.width }
        // Prefix sums: counts, nonempty bins, and h log h.
        var sum = [Double](repeating: 0, count: n + 1), nonempty = [Int](repeating: 0, count: n + 1)
        var hlogh = [Double](repeating: 0, count: n + 1)
        for j in 0..<n {
            let v = Double(h[j])
            sum[j + 1] = sum[j] + v
            nonempty[j + 1] = nonempty[j] + (h[j] > 0 ? 1 : 0)
            hlogh[j + 1] = hlogh[j] + (h[j] > 0 ? v * log(v) : 0)
        }
        let total = sum[n]
        var best: (kl: Double, edge: Int)?
        for i in levels...n {
            // P: bins 0..<i, the last holding everything from i - 1 up.
            let last = total - sum[i - 1]
            let plogp = hlogh[i - 1] + (last > 0 ? last * log(last) : 0)
            // Q: group g covers bins [i * g / levels, i * (g + 1) / levels).
            var plogq = 0.0
            var finite = true
            for g in 0..<levels {
                let a = i * g / levels, b = i * (g + 1) / levels
                guard b > a else { continue }
                let groupSum = sum[b] - sum[a]
                var count = nonempty[b] - nonempty[a]
                // P's mass in the group: its bins, with the last bin's folded values.
                var pMass = groupSum
                if b == i {
                    pMass += last - Double(h[i - 1])
                    if h[i - 1] == 0 && last > 0 { count += 1 }
                }
                guard pMass > 0 else { continue }
                guard groupSum > 0, count > 0 else { finite = false; break }
                plogq += pMass * log(groupSum / Double(count))
            }
            guard finite else { continue }
            // Q's total is the unfolded bins' sum; P's is every value.
            let kl = (plogp - plogq) / total - log(total) + log(sum[i])
            if best == nil || kl < best!.kl { best = (kl, i) }
        }
        return Float(best?.edge ?? n) * l.width
    }

    /// The |x| below which a fraction `p` of the value's entries lie: the upper edge of its bin.
    func percentile(_ value: Int, _ p: Double) -> Float {
        guard let c = counts[value] else { return 0 }
        let total = c.log.reduce(c.zeros, +)
        let want = Int((p * Double(total)).rounded(.up))
        var seen = c.zeros
        if seen >= want { return 0 }
        for (b, n) in c.log.enumerated() {
            seen += n
            if seen >= want { return Float(pow(2.0, Double(b + 1) / Double(Self.binsPerOctave) + Double(Self.lowestExponent))) }
        }
        return abs(c.hi)
    }

    /// Runs `model` (f32, folded) on `images` and records every value of its plan.
    public func run(_ model: InferenceModel, images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws {
        let input = try imageBatch(images, batch: batch, height: height, width: width, engine: model.engine)
        try record(0, input.floats())   // the images: the stem's input scale
        _ = try model.forward(input) { v, t in try self.record(v, t.floats()) }
        self.images += batch
    }

    /// A value's name for people: its node's state-dict path, or for an op without parameters
    /// (ReLU, add, pooling) the op after the nearest named node before it (`relu after layer1.0.bn1`).
    static func name(of v: Int, in graph: Graph) -> String {
        guard v > 0 else { return "input" }
        let node = graph.nodes[v - 1]
        if !node.op.tensors.isEmpty { return node.path.description }
        let op: String
        switch node.op {
        case .activation(let a): op = a.rawValue
        case .add: op = "add"
        case .maxPool: op = "maxpool"
        case .avgPool: op = "avgpool"
        case .adaptiveAvgPool: op = "avgpool"
        case .flatten: op = "flatten"
        case .dropout: op = "dropout"
        case .stochasticDepth: op = "stochastic_depth"
        case .concat: op = "concat"
        case .multiply: op = "multiply"
        case .layerNorm: op = "layernorm"
        case .layerScale: op = "layer_scale"
        case .channelAffine: op = "transform_input"
        default: op = "op"
        }
        let before = graph.nodes[..<(v - 1)].last { !$0.op.tensors.isEmpty }
        return before.map { "\(op) after \($0.path)" } ?? op
    }

    /// The calibration these ranges make.
    public func calibration(of model: InferenceModel, weightsSHA256: String, method: Calibration.Method, imageSize: Int) -> Calibration {
        let graph = model.architecture.graph
        let ranges = counts.keys.sorted().map { v in
            let c = counts[v]!
            let largest = max(abs(c.lo), abs(c.hi))
            // kl: the images (value 0) keep their full range. Their distribution is no bell: on
            // the held-back set KL cut the background's spike (at 0.69 of the largest magnitude)
            // and 4 of 240 top classes changed; every other value takes its KL threshold.
            let kl = method != .kl ? nil : v == 0 ? largest : klThreshold(v, levels: c.lo >= 0 ? 255 : 127) ?? largest
            return Calibration.Range(value: v, node: Self.name(of: v, in: graph), min: c.lo, max: c.hi,
                                     p9999: percentile(v, 0.9999), kl: kl)
        }
        return Calibration(weightsSHA256: weightsSHA256, model: model.name, method: method, images: images, imageSize: imageSize, values: ranges)
    }
}

extension InferenceModel {
    /// The logits, calling `observe` with every value the plan makes (its number and tensor),
    /// in order: what calibration records.
    public func forward(_ images: Tensor, observing observe: (Int, Tensor) throws -> Void) throws -> Tensor {
        var values = [Tensor?](repeating: nil, count: architecture.graph.nodes.count + 1)
        values[0] = images
        var last: Tensor = images
        for (i, step) in steps.enumerated() {
            let inputs = try step.inputs.map { v -> Tensor in
                guard let t = values[v] else { throw ModelError.badInput("value \(v) is not computed before step \(i)") }
                return t
            }
            for v in step.inputs where lastUse[v] == i { values[v] = nil }
            let y = try step.run(inputs, engine: engine)
            // Observed as soon as made: a conv adding in place overwrites its residual later.
            try observe(step.output, y)
            values[step.output] = y
            last = y
        }
        return last
    }
}

/// One int8 step of the plan (see `Int8Pass`): an int8 conv or linear, with the conversions of
/// its inputs that are not already of the type it reads.
final class QuantizedStep {
    enum Op {
        case conv(QuantizedConv2d)
        case linear(QuantizedLinear)
    }
    let op: Op
    /// Converts an f32 input to the op's source type (nil: the input is already that).
    let input: Requantize?
    /// Converts the residual to the type the sum reads (nil: it already is).
    let residual: Requantize?
    /// Whether the residual may be overwritten (no later step reads it).
    let inPlace: Bool

    init(_ op: Op, input: Requantize?, residual: Requantize? = nil, inPlace: Bool = false) {
        self.op = op; self.input = input; self.residual = residual; self.inPlace = inPlace
    }

    func run(_ x: [Tensor]) throws -> Tensor {
        let src = try input.map { try $0.forward(x[0]) } ?? x[0]
        switch op {
        case .linear(let l): return try l.forward(src)
        case .conv(let c):
            guard x.count == 2 else { return try c.forward(src) }
            if let r = residual { return try c.forward(src, residual: r.forward(x[1]), inPlace: true) }
            return try c.forward(src, residual: x[1], inPlace: inPlace)
        }
    }
}

/// The int8 plan from the folded f32 one: a pass over its steps, whatever the family. Each conv
/// (the stem too, reading the images in s8, when the calibration has their range) and each
/// linear but the one making the logits becomes int8: weights s8 per output channel, its
/// input's scale from the calibration (u8 where the value is never negative, s8 otherwise), its
/// output u8/s8 when every step reading it is int8 too, or a max pool read only by int8 steps
/// (kept int8 between layers: the pool runs on the u8 values in their scale) and f32 otherwise,
/// the residual add and ReLU fused as before.
struct Int8Pass {
    let calibration: Calibration
    let output: Int
    let engine: CPUEngine

    func apply(_ steps: [InferenceModel.Step]) throws -> [InferenceModel.Step] {
        var readers: [Int: [Int]] = [:]
        for (i, s) in steps.enumerated() { for v in s.inputs { readers[v, default: []].append(i) } }
        // The stem reads the images: int8 (s8) when the calibration has their range (files made
        // before it recorded them keep the stem in f32).
        let imagesRanged = calibration.range(of: 0) != nil
        func quantizable(_ s: InferenceModel.Step) -> Bool {
            switch s.kind {
            case .conv(_, nil, _): return s.inputs[0] != 0 || imagesRanged
            case .linear: return s.output != output
            default: return false
            }
        }
        // A max pool of an int8 value is int8 in the same type and scale (the max of quantised
        // values is the quantised max): `source[v]` is the value whose scale v shares.
        var source: [Int: Int] = [:]
        func range(_ v: Int) throws -> Calibration.Range {
            if let u = source[v] { return try range(u) }
            guard let r = calibration.range(of: v) else {
                throw ModelError.badInput("the calibration has no range for value \(v): calibrate these weights again")
            }
            return r
        }
        func type(_ v: Int) throws -> QuantizedType { try range(v).min >= 0 ? .u8 : .s8 }
        func scale(_ v: Int) throws -> Float {
            let t = try range(v).threshold(calibration.method)
            return t > 0 ? t / (try type(v)).maxMagnitude : 1
        }
        // Values made by an int8 conv and read only by int8 steps stay int8, and so do max pools
        // of them read only by int8 steps (the stem's pool: the first blocks read it in u8).
        func readOnlyByInt8(_ v: Int) -> Bool { readers[v].map { $0.allSatisfy { quantizable(steps[$0]) } } ?? false }
        // Int8 outputs are in their scale's units, which ReLU and ReLU6 (clipped at 6 / scale)
        // allow; hardswish needs real units: such a conv writes f32.
        func unitsAllowed(_ a: Activation?) -> Bool { a == nil || a == .relu || a == .relu6 }
        var int8Values = Set<Int>()
        for s in steps where quantizable(s) {
            guard case .conv(let conv, _, let add) = s.kind, unitsAllowed(conv.activation ?? add?.activation),
                  let rs = readers[s.output] else { continue }
            let pools = rs.filter { if case .maxPool = steps[$0].kind { return true } else { return false } }
            let int8Pools = pools.filter { readOnlyByInt8(steps[$0].output) }
            guard int8Pools.count == pools.count, rs.allSatisfy({ quantizable(steps[$0]) || pools.contains($0) }) else { continue }
            int8Values.insert(s.output)
            for p in int8Pools { int8Values.insert(steps[p].output); source[steps[p].output] = s.output }
        }
        return try steps.map { s -> InferenceModel.Step in
            guard quantizable(s) else { return s }
            let x = s.inputs[0]
            let (srcType, sx) = (try type(x), try scale(x))
            let input = int8Values.contains(x) ? nil : Requantize(scale: 1 / sx, to: srcType, engine: engine)
            switch s.kind {
            case let .conv(conv, _, add):
                let q = QuantizedWeights(conv.weight, outChannels: conv.outChannels)
                let out = int8Values.contains(s.output)
                let (outType, so) = out ? (try type(s.output), try scale(s.output)) : (QuantizedType.f32, Float(1))
                let outputScales = q.scales.map { sx * $0 / so }
                let bias = conv.bias.map { b in b.indices.map { b[$0] / (sx * q.scales[$0]) } }
                var sum: (scale: Float, type: QuantizedType)?
                var residual: Requantize?
                if s.inputs.count == 2 {
                    let r = s.inputs[1]
                    let rType = try type(r), sr = try scale(r)
                    if out {
                        sum = (sr / so, rType)
                        if !int8Values.contains(r) { residual = Requantize(scale: 1 / sr, to: rType, engine: engine) }
                    } else {
                        sum = (1, .f32)
                        if int8Values.contains(r) { residual = Requantize(scale: sr, to: .f32, engine: engine) }
                    }
                }
                let c = try QuantizedConv2d(weights: q.values, shape: [conv.outChannels, conv.inChannels / conv.groups, conv.kernelHeight, conv.kernelWidth],
                                            bias: bias, outputScales: outputScales, stride: conv.stride, padding: conv.padding, paddingWidth: conv.paddingWidth, groups: conv.groups,
                                            activation: conv.activation ?? add?.activation, activationUnit: so, sourceType: srcType,
                                            outputType: outType, sum: sum, engine: engine)
                return InferenceModel.Step(kind: .quantized(QuantizedStep(.conv(c), input: input, residual: residual, inPlace: add == nil)),
                                           inputs: s.inputs, output: s.output)
            case .linear(let l):
                let q = QuantizedWeights(l.weight, outChannels: l.outFeatures)
                let bias = l.bias.map { b in b.indices.map { b[$0] / (sx * q.scales[$0]) } }
                let ql = try QuantizedLinear(weights: q.values, outFeatures: l.outFeatures, inFeatures: l.inFeatures, bias: bias,
                                             outputScales: q.scales.map { sx * $0 }, activation: l.activation, sourceType: srcType,
                                             outputType: .f32, engine: engine)
                return InferenceModel.Step(kind: .quantized(QuantizedStep(.linear(ql), input: input)), inputs: s.inputs, output: s.output)
            default:
                return s
            }
        }
    }
}

extension InferenceModel {
    /// The int8 ops of the plan (for diagnostics and tests): their oneDNN implementations.
    public var int8Implementations: [String] {
        steps.flatMap { s -> [String] in
            guard case .quantized(let q) = s.kind else { return [] }
            switch q.op {
            case .conv(let c): return c.implementations
            case .linear(let l): return l.implementations
            }
        }
    }

    /// The value each step of the plan makes, in order.
    var stepOutputs: [Int] { steps.map(\.output) }

    /// How many steps run in int8.
    public var int8StepCount: Int { steps.filter { if case .quantized = $0.kind { return true } else { return false } }.count }
}
