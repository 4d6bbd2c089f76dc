import Imaging
import Inference
import Models

/// The arithmetic a ``Classifier`` runs in.
public enum Precision: String, Sendable, CaseIterable {
    /// float32, as PyTorch computes: probabilities within 1e-4 of torchvision's.
    case f32
    /// bfloat16 kernels with float32 accumulation (AVX-512 CPUs): about twice as fast, probabilities
    /// within about 1e-2 of f32's.
    case bf16
    /// int8 convolutions (CPUs with VNNI or AMX), with the ranges `graft calibrate` wrote beside the weights.
    case int8

    var engine: Models.Precision { Models.Precision(rawValue: rawValue)! }

    /// Throws, saying what the CPU lacks, where this CPU has no fast kernels for the precision.
    public func requireSupport() throws { try engine.requireSupport() }
}

/// How the 3x3 stride-1 convolutions compute in ``Precision/f32``.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// The faster of direct and Winograd for each conv shape, measured the first time this machine
    /// meets it (and remembered in `~/.cache/graft/conv-choices.json`).
    case auto
    /// PyTorch's arithmetic.
    case direct
    /// Winograd F(4x4, 3x3) wherever it applies: fewer multiplications, other rounding.
    case winograd

    var engine: ConvolutionChoice { ConvolutionChoice(rawValue: rawValue)! }
}

/// What a model sees of an image: torchvision's eval transform, `Resize(resize)`,
/// `CenterCrop(crop)`, `ToTensor()`, `Normalize(mean, std)`, pixel for pixel as Pillow.
public struct Preprocessing: Sendable, Equatable {
    /// The shorter side after the resize.
    public var resize: Int
    /// The side of the center crop the model sees.
    public var crop: Int
    /// Per channel (R, G, B), on values in 0...1.
    public var mean: [Float]
    /// Per channel (R, G, B): the divisor after the mean is taken off.
    public var std: [Float]
    /// `"bilinear"` (torchvision's default) or `"bicubic"` (EfficientNet's weights).
    public var interpolation: String

    init(_ t: EvalTransform) {
        resize = t.resize
        crop = t.crop
        mean = t.normalization.mean
        std = t.normalization.std
        interpolation = t.interpolation.rawValue
    }
}

/// An 8-bit RGB image, decoded as Pillow decodes it: `ImageOps.exif_transpose(Image.open(f)).convert("RGB")`.
public struct Image: Sendable, Equatable {
    let rgb: RGBImage

    /// Pixels per row.
    public var width: Int { rgb.width }
    /// Rows.
    public var height: Int { rgb.height }
    /// Row by row, three bytes (R, G, B) per pixel: `width * height * 3` bytes.
    public var pixels: [UInt8] { rgb.pixels }

    /// An image from its pixels (`width * height * 3` bytes, R, G, B, row by row).
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        rgb = try RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Decodes JPEG or PNG bytes (told apart by their content), turned upright by their EXIF orientation.
    public init(decoding bytes: [UInt8]) throws {
        rgb = try ImageDecoder.decode(bytes: bytes)
    }

    /// Decodes the JPEG or PNG file at `path`.
    public init(contentsOfFile path: String) throws {
        rgb = try ImageDecoder.decode(path: path)
    }
}

/// One of a model's classes with its probability.
public struct RankedClass: Sendable, Equatable {
    /// The class's index in the model's output.
    public let index: Int
    /// The class's name.
    public let name: String
    /// The model's probability for it.
    public let probability: Float
}

/// A model's answer for one image: the softmax over its classes, and the most probable class.
public struct Classification: Sendable, Equatable {
    /// The probability of each class, in class-index order (they sum to 1).
    public let probabilities: [Float]
    /// The names of the classes, in index order.
    public let classNames: [String]

    /// The most probable class's index (the first of equal ones, as `torch.argmax`).
    public var index: Int { prediction.index }
    /// The most probable class's name.
    public var className: String { classNames[index] }
    /// The most probable class's probability.
    public var probability: Float { probabilities[index] }

    /// The `k` most probable classes, most probable first (equal ones in index order).
    public func top(_ k: Int) -> [RankedClass] {
        prediction.top(max(0, k)).map { RankedClass(index: $0, name: classNames[$0], probability: probabilities[$0]) }
    }

    private var prediction: Prediction { Prediction(image: "", probs: probabilities) }
}
