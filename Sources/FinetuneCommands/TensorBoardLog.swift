import TensorBoard
import Training

/// `finetune --tensorboard DIR`: the run's curves in a TensorBoard event file, written through
/// the trainer's observer hooks (`Trainer.onStep`, `Trainer.onEpoch`), so the training loop
/// knows nothing of TensorBoard.
///
/// Tags, as PyTorch's SummaryWriter users write them: `train/loss` at every optimizer step
/// (step: the global step count, from 1, going on across `--resume`), and `val/loss`,
/// `val/accuracy` and `lr` once an epoch (step: the epoch, from 1). The file is flushed after
/// every epoch, so TensorBoard follows a live run.
public final class TensorBoardLog {
    public let writer: EventWriter

    /// Fails unless `directory` can hold the event file (an existing writable folder, or a
    /// path whose nearest existing parent is one); creates nothing. finetune checks this before
    /// anything else is read or written.
    public static func check(_ directory: String) throws {
        try EventWriter.checkDirectory(directory)
    }

    /// Creates `directory` when missing, and the event file in it.
    public init(directory: String) throws {
        writer = try EventWriter(directory: directory)
    }

    /// Hangs the writer on `trainer`'s hooks.
    public func attach(to trainer: Trainer) {
        let writer = self.writer
        trainer.onStep = { step, loss in
            try writer.addScalar("train/loss", value: loss, step: step)
        }
        trainer.onEpoch = { m in
            try writer.addScalar("val/loss", value: m.valLoss, step: m.epoch)
            try writer.addScalar("val/accuracy", value: m.valAccuracy, step: m.epoch)
            try writer.addScalar("lr", value: m.lr, step: m.epoch)
            // --ema-decay: the weight average's figures beside the model's.
            if let l = m.emaValLoss { try writer.addScalar("ema/val_loss", value: l, step: m.epoch) }
            if let a = m.emaValAccuracy { try writer.addScalar("ema/val_accuracy", value: a, step: m.epoch) }
            try writer.flush()
        }
    }
}
