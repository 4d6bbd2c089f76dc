/// Test-time augmentation (`--tta`) of predict, batch_predict and evaluate: which views of each
/// image the model sees, and how their probabilities become the image's.
///
/// `.flip`: the image and its horizontal mirror; the probabilities are the mean of the two
/// softmaxes, `(softmax(model(x)) + softmax(model(torch.flip(x, dims=[3])))) / 2`. The mirror is
/// taken of the preprocessed tensor (the normalized center crop), not of the decoded image:
/// mirroring the PIL image before Resize and CenterCrop gives the same crop mirrored, except
/// that when the resized width minus the crop is odd, CenterCrop's rounding puts the odd column
/// on the other side (a one-pixel shift).
public enum TestTimeAugmentation: String, CaseIterable, Sendable {
    case none
    case flip

    /// Images the model runs per input image.
    public var views: Int {
        switch self {
        case .none: return 1
        case .flip: return 2
        }
    }

    /// Writes the horizontal mirror of the first `count` CHW images of `buffer` (`channels` x
    /// `height` x `width` floats each) right after them: image `i`'s mirror at `count + i`.
    /// `buffer` holds at least `2 * count` images.
    public static func appendMirrors(_ buffer: UnsafeMutableBufferPointer<Float>, count: Int,
                                     channels: Int, height: Int, width: Int) {
        let per = channels * height * width
        precondition(buffer.count >= 2 * count * per)
        guard let base = buffer.baseAddress else { return }
        for i in 0..<count {
            let src = base + i * per, dst = base + (count + i) * per
            for row in 0..<(channels * height) {
                let s = src + row * width, d = dst + row * width
                for x in 0..<width { d[x] = s[width - 1 - x] }
            }
        }
    }

    /// The probabilities of `count` images from those of the model's `views * count` rows
    /// (`classes` each; the views of image `i` at rows `i`, `count + i`, ...): their mean.
    public func combine(_ probs: [Float], count: Int, classes: Int) -> [Float] {
        guard views > 1 else { return probs }
        precondition(probs.count == views * count * classes)
        var out = [Float](repeating: 0, count: count * classes)
        for i in 0..<(count * classes) {
            var sum: Float = 0
            for v in 0..<views { sum += probs[v * count * classes + i] }
            out[i] = sum / Float(views)
        }
        return out
    }
}
