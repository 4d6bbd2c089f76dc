import Engine

extension ResNetModel {
    /// Pooled features `[N, C]` (the input of `fc`), from the inference graph: what a frozen
    /// trunk with batch norm in eval mode computes. The fc-only training path uses it.
    public func features(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float] {
        let input = try imageBatch(images, batch: batch, height: height, width: width, engine: engine)
        return try avgPool.forward(trunk(input)).floats()
    }

    /// Stem and blocks: the last stage's activations.
    func trunk(_ images: Tensor) throws -> Tensor {
        var x = try maxPool.forward(stem.forward(images))
        for block in blocks { x = try block.forward(x) }
        return x
    }
}
