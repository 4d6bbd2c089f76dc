import Engine

/// The NCHW float32 input tensor of a batch of normalised images, after checking that
/// `images` holds exactly `batch * 3 * height * width` values.
func imageBatch(_ images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int, engine: CPUEngine) throws -> Tensor {
    guard batch > 0, height > 0, width > 0 else {
        throw ModelError.badInput("batch \(batch), height \(height) and width \(width) must be positive")
    }
    let (n1, o1) = batch.multipliedReportingOverflow(by: 3 * height)
    let (n, o2) = n1.multipliedReportingOverflow(by: width)
    guard !o1, !o2, images.count == n else {
        throw ModelError.badInput("\(images.count) values given for \(batch) x 3 x \(height) x \(width) images")
    }
    return try Tensor(shape: [batch, 3, height, width], values: images, engine: engine)
}
