import Engine

extension Network {
    /// Every batch norm's `num_batches_tracked`, in state-dict order: with `runningStatistics`
    /// and the parameters, what puts a model back as it was after steps that were only a trial
    /// (`finetune --find-lr`).
    public var batchesTracked: [Int64] {
        get { batchNorms.map { $0.bn.numBatchesTracked } }
        set {
            precondition(newValue.count == batchNorms.count, "batchesTracked: \(newValue.count) counts for \(batchNorms.count) batch norms")
            for (b, n) in zip(batchNorms, newValue) { b.bn.numBatchesTracked = n }
        }
    }
}
