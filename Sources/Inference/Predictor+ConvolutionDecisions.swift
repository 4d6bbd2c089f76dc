import Engine
import Foundation

extension Predictor {
    /// `--conv auto`: decides every conv shape the batches of `images` images (in batches of
    /// `batchSize`, the last one partial) will meet before the first batch, by running the
    /// model once on a blank batch of each size (largest first); the tuner spreads Winograd's
    /// filter transform over all those batches. With `broadcast` (under mpirun, where every rank
    /// calls this with the listing's whole count), rank 0's decisions are every rank's
    /// (`ConvolutionTuner.rootDecides`): the ranks then compute alike whichever batches they get.
    /// A batch made smaller by images that failed to decode meets its shapes later, decided by
    /// the rank alone (from the choice cache where it has them). Sizes decided before are skipped.
    /// With `--tta flip` the model's batches hold each image twice: the sizes are doubled.
    public func decideConvolutions(images imageCount: Int, batchSize: Int, isRoot: Bool = true,
                                   broadcast: (([UInt8]) -> [UInt8])? = nil) throws {
        let images = imageCount * tta.views
        guard let tuner = convolutionTuner, images > 0 else { return }
        let size = max(1, batchSize) * tta.views
        let h = transform.crop
        var sizes = [min(size, images)]
        if images > size, images % size != 0 { sizes.append(images % size) }
        let inputs = sizes.map { [$0, 3, h, h] }.filter { !tuner.preparedInputs.contains($0) }
        guard !inputs.isEmpty else { return }
        if tuner.preparedInputs.isEmpty { tuner.expectedRuns = (images + size - 1) / size }
        if let broadcast { tuner.agree = ConvolutionTuner.rootDecides(isRoot: isRoot, broadcast: broadcast) }
        defer { tuner.agree = nil }
        for input in inputs {
            let blank = [Float](repeating: 0, count: input.reduce(1, *))
            _ = try blank.withUnsafeBufferPointer { try model.logits(images: $0, batch: input[0], height: h, width: h) }
            tuner.preparedInputs.insert(input)
        }
    }
}
