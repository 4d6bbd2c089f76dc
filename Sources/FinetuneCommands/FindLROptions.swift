import ArgumentParser
import Training

/// `--find-lr` and its settings: fastai's LR range test instead of training (`Finetune.findLearningRate`).
public struct FindLROptions: ParsableArguments {
    @Flag(name: .customLong("find-lr"), help: ArgumentHelp(
        "Do not train: run an LR range test (fastai's lr_find) and print the suggested --lr with the command that trains with it. Writes lr_find.json and lr_find.html (the loss against the rate) beside --metrics, no model.",
        discussion: """
            The test takes --find-lr-steps optimizer steps (default 100) on training batches, the rate rising \
            exponentially from --find-lr-start (1e-7) towards --find-lr-end (10): step i's rate is \
            start x (end / start)^(i / steps). It trains as the rest of the options say (--train, --head, \
            --optimizer, --weight-decay, augmentation with --mixup-alpha and --cutmix-alpha, --batch-size, --accumulate, --clip-grad-norm, \
            --label-smoothing, --class-weights, --sampler), ignoring --epochs, --schedule, --warmup-epochs, \
            --patience, --ema-decay and the phases (--head-epochs, --lr-backbone, --lr-slice: one rate for everything that trains), and stops early once the smoothed loss (an exponential moving average, beta 0.98, \
            debiased) exceeds 4x its best. The suggestion is fastai's default, valley (about two thirds down \
            the longest stretch where the loss keeps falling); minimum/10 and steep are printed beside it. The \
            first steps/10 and last 5 steps are left out of the suggestions, as fastai does. Read the plot: \
            choose a rate where the loss still falls steeply, before its minimum; at the minimum it is already \
            too high. The model and optimizer are put back afterwards and nothing is saved as a model (no \
            --output, class_indices.json, metrics.json or resume point). --report FILE moves the page, \
            --no-report leaves it out. Under mpirun every process steps together, gradients averaged as in \
            training, and rank 0 writes.
            """))
    public var findLR = false

    @Option(help: ArgumentHelp("With --find-lr: the first step's rate (fastai's start_lr). Default 1e-7.", valueName: "LR"))
    public var findLrStart: Double?

    @Option(help: ArgumentHelp("With --find-lr: the rate the steps rise towards (fastai's end_lr; the last step's is end x (start / end)^(1 / steps)). Default 10.", valueName: "LR"))
    public var findLrEnd: Double?

    @Option(help: ArgumentHelp("With --find-lr: how many optimizer steps (fastai's num_it), at least 6; epochs follow each other when the training set has fewer batches. Default 100.", valueName: "N"))
    public var findLrSteps: Int?

    public init() {}

    /// The test's settings, fastai's defaults where not given.
    public var settings: LRRangeTest.Settings {
        LRRangeTest.Settings(start: findLrStart ?? 1e-7, end: findLrEnd ?? 10, steps: findLrSteps ?? 100)
    }

    public func validate() throws {
        if !findLR {
            let given = [findLrStart.map { _ in "--find-lr-start" }, findLrEnd.map { _ in "--find-lr-end" }, findLrSteps.map { _ in "--find-lr-steps" }].compactMap { $0 }
            if let first = given.first { throw ValidationError("\(first) sets the LR range test: give --find-lr with it (or leave it out to train)") }
            return
        }
        let s = settings
        if !(s.start > 0 && s.start.isFinite) { throw ValidationError("--find-lr-start must be a positive rate, not \(s.start)") }
        if !(s.end > s.start && s.end.isFinite) {
            throw ValidationError("--find-lr-end (\(s.end)) must be a finite rate above --find-lr-start (\(s.start)): the test's rates rise from start to end")
        }
        if !(s.end / s.start).isFinite {
            throw ValidationError("--find-lr-end / --find-lr-start (\(s.end) / \(s.start)) overflows: the rates would be infinite. Give a start of 1e-300 or more")
        }
        if s.steps < 6 { throw ValidationError("--find-lr-steps must be at least 6 (fastai's least; 100 is its default), not \(s.steps)") }
        if s.steps > 100_000 { throw ValidationError("--find-lr-steps \(s.steps) is more than a range test needs (at most 100000; fastai's default is 100)") }
    }

    /// The combinations --find-lr refuses: it trains nothing to resume and saves no model.
    func validate(with output: FinetuneOutputOptions) throws {
        guard findLR else { return }
        if output.resume {
            throw ValidationError("--find-lr and --resume contradict each other: the range test starts from --weights and saves no resume point. Leave out --resume (run the test, then train with the --lr it suggests).")
        }
        if output.output != nil {
            throw ValidationError("--find-lr saves no model, so --output has nothing to name: leave it out (the test writes lr_find.json and lr_find.html beside --metrics).")
        }
        if output.tensorboard != nil {
            throw ValidationError("--find-lr writes no TensorBoard events (its curve is in lr_find.json and lr_find.html): leave out --tensorboard.")
        }
    }

    /// Where the test writes: lr_find.json beside --metrics; the page at --report, else
    /// lr_find.html beside --metrics, none with --no-report.
    func paths(_ output: FinetuneOutputOptions) -> (json: String, page: String?) {
        (Finetune.lrFinderPath(metrics: output.metrics, name: "lr_find.json"),
         output.noReport ? nil : (output.report ?? Finetune.lrFinderPath(metrics: output.metrics, name: "lr_find.html")))
    }
}
