import Foundation
import Models

/// `--ema-decay` (the weights' moving average) and `--mixup-alpha`/`--cutmix-alpha` (mixed
/// batches) in the training loop.
extension Trainer {
    /// Makes the average at the first epoch run here (from the resume point's when there is
    /// one), and starts averaging what trains from this epoch (a later phase's layers).
    func startAverage() throws {
        guard let decay = config.emaDecay else { return }
        if ema == nil {
            let e = WeightEMA(model: model, decay: decay)
            if let saved = savedEMA { try e.load(saved, model: model) }
            savedEMA = nil
            ema = e
        }
        ema!.track(model)
    }

    /// Under mpirun: rank 0's average goes to every process. The parameters' averages agree
    /// already (every process steps alike); those of per-process batch statistics do not, as
    /// the running statistics themselves, which rank 0 hands out likewise (`synchronizeReplicas`).
    func synchronizeAverage() {
        guard cluster.isDistributed, let e = ema else { return }
        e.flattened = cluster.broadcast(floats: cluster.isRoot ? e.flattened : [])
    }

    /// Whether the average validated better than the model by `--monitor` (the model on a tie).
    func averageIsBetter(model m: (loss: Double, accuracy: Double), average a: (loss: Double, accuracy: Double)) -> Bool {
        switch config.monitor ?? .valAccuracy {
        case .valAccuracy: return a.accuracy > m.accuracy
        case .valLoss: return a.loss < m.loss
        }
    }

    /// metrics.json's `saved_weights`: which weights `--output` holds (nil without `--ema-decay`).
    var savedWeights: String? {
        guard config.emaDecay != nil, let e = savedEpoch, e >= 1, e <= history.count else { return nil }
        return history[e - 1].emaChosen == true ? "ema" : "model"
    }

    /// Batch `index`'s images and targets: as loaded, or mixed (`--mixup-alpha`,
    /// `--cutmix-alpha`) with the probability targets the loss then takes.
    func mixed(_ batch: BatchLoader.Batch, epoch: Int, index: Int, side: Int) -> (images: [Float], targets: [Float]?) {
        guard let mixing else { return (batch.images, nil) }
        var images = batch.images
        let draw = mixing.draw(seed: config.seed, epoch: epoch, batch: index, rank: cluster.rank, height: side, width: side)
        let targets = BatchMixing.apply(draw, images: &images, labels: batch.labels, classes: model.numClasses, height: side, width: side)
        return (images, targets)
    }
}

// MARK: - report.html's lines

extension Trainer {
    /// report.html's mixing row: what `--mixup-alpha` and `--cutmix-alpha` do, or "none".
    var mixingDescription: String {
        guard let m = mixing else { return "none" }
        let parts = [m.mixupAlpha.map { "--mixup-alpha \($0) (MixUp, lambda ~ Beta(\($0), \($0)))" },
                     m.cutmixAlpha.map { "--cutmix-alpha \($0) (CutMix, lambda ~ Beta(\($0), \($0)))" }].compactMap { $0 }
        return parts.joined(separator: " or ") + (parts.count == 2 ? ", one of the two per batch" : ", every batch")
            + "; the loss takes the mixed one-hot targets"
    }

    /// report.html's weight-average row: the decay, which weights `--output` holds, and the
    /// average's val figures per epoch beside the model's.
    var averageDescription: String {
        guard let d = config.emaDecay else { return "none" }
        var s = "--ema-decay \(d) (timm's model EMA, after every optimizer step)"
        if let e = savedEpoch, let w = savedWeights {
            s += "; --output holds epoch \(e)'s " + (w == "ema" ? "average (it validated better than the model)" : "model (not its average)")
        }
        let figures = history.compactMap { m in
            m.emaValAccuracy.map { String(format: "epoch %d: %.4f (model %.4f)", m.epoch, $0, m.valAccuracy) }
        }
        if !figures.isEmpty { s += "; the average's val accuracy: " + figures.joined(separator: ", ") }
        return s
    }
}
