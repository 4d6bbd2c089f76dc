import Foundation

/// What a schedule must remember between epochs, as a resume point carries it: the shape it
/// was laid out for (steps per epoch, so that a resumed run finishes the same curve even with
/// another process count) and ReduceLROnPlateau's state.
public struct ScheduleState: Codable, Equatable, Sendable {
    /// Optimizer steps per epoch the schedule was laid out for.
    public var stepsPerEpoch: Int
    /// Steps of the schedule taken so far (epochs finished x steps per epoch).
    public var steps: Int = 0
    /// ReduceLROnPlateau (mode min on val loss): the best loss so far (nil before the first
    /// epoch; torch's inf), epochs since it, and the factor the rate has been cut to.
    public var plateauBest: Double? = nil
    public var plateauBadEpochs: Int = 0
    public var plateauScale: Double = 1

    public init(stepsPerEpoch: Int) { self.stepsPerEpoch = max(stepsPerEpoch, 1) }

    /// The most steps an epoch may have (a hundred million batches); a resume point is a file a
    /// stranger may have edited, and a huge count would overflow the schedule's arithmetic.
    public static let maxStepsPerEpoch = 100_000_000

    enum CodingKeys: String, CodingKey { case stepsPerEpoch, steps, plateauBest, plateauBadEpochs, plateauScale }

    /// Reads a resume point's state, refusing what finetune never writes (counts out of range, a
    /// best loss or a cut that is not a finite number, a cut above 1): the resume point is then
    /// not one finetune wrote, rather than a rate of NaN or a trap.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stepsPerEpoch = try c.decode(Int.self, forKey: .stepsPerEpoch)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? 0
        plateauBest = try c.decodeIfPresent(Double.self, forKey: .plateauBest)
        plateauBadEpochs = try c.decodeIfPresent(Int.self, forKey: .plateauBadEpochs) ?? 0
        plateauScale = try c.decodeIfPresent(Double.self, forKey: .plateauScale) ?? 1
        func refuse(_ what: String) -> DecodingError {
            .dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "schedule state: \(what)"))
        }
        guard (1...Self.maxStepsPerEpoch).contains(stepsPerEpoch) else { throw refuse("steps per epoch \(stepsPerEpoch)") }
        guard steps >= 0, steps <= Int(Int32.max) * stepsPerEpoch else { throw refuse("steps \(steps)") }
        guard plateauBest?.isFinite ?? true else { throw refuse("best loss \(plateauBest!)") }
        guard plateauBadEpochs >= 0 else { throw refuse("bad epochs \(plateauBadEpochs)") }
        guard plateauScale.isFinite, plateauScale > 0, plateauScale <= 1 else { throw refuse("cut \(plateauScale)") }
    }
}

/// The learning rate of every optimizer step, as torch.optim.lr_scheduler gives it when the
/// per-step schedulers step after every batch and the per-epoch ones after every epoch
/// (Fixtures/gen_schedules.py records torch's sequences; the tests compare):
/// - warmup (`--warmup-epochs X`): W = round(X x steps per epoch) steps (Python's round, half
///   to even) of LinearLR(start_factor=0.01, total_iters=W): the rate rises linearly from
///   lr/100 and reaches lr at step W.
/// - cosine: CosineAnnealingLR(T_max = total steps - W, eta_min 0) per step, after the warmup
///   through SequentialLR(milestones=[W]).
/// - onecycle: OneCycleLR(max_lr=lr, total_steps) with torch's defaults (pct_start 0.3, cos
///   annealing, div_factor 25, final_div_factor 1e4) and cycle_momentum=False: momentum and
///   Adam's beta1 stay as given. Its own warm-up replaces `--warmup-epochs`.
/// - cosine-epoch: CosineAnnealingLR(T_max = epochs) stepped per epoch (finetune's cosine
///   before the per-step one).
/// - step: StepLR(step_size, gamma 0.1) per epoch; plateau: ReduceLROnPlateau(mode min,
///   factor 0.1, patience, threshold 1e-4 rel, eps 1e-8) on each epoch's val loss. With a
///   warmup, the rate is theirs times the warmup's factor (torch's chained schedulers).
public struct LRScheduler: Sendable {
    public static let warmupStartFactor = 0.01
    public let schedule: LRSchedule
    public let base: Double
    public let epochs: Int
    public let warmupEpochs: Double
    public let stepSize: Int
    public let plateauPatience: Int
    public var state: ScheduleState
    /// The epochs (from 0) at which a phase begins (`--head-epochs`): the schedule is laid out
    /// anew over each phase's epochs, warmup included, as fastai's fine_tune fits each phase.
    public var phaseStarts: [Int] = [0]

    public init(schedule: LRSchedule, base: Double, epochs: Int, stepsPerEpoch: Int, warmupEpochs: Double = 0,
                stepSize: Int = 1, plateauPatience: Int = LRScheduler.defaultPlateauPatience) {
        self.schedule = schedule; self.base = base; self.epochs = epochs; self.warmupEpochs = warmupEpochs
        self.stepSize = stepSize; self.plateauPatience = plateauPatience
        state = ScheduleState(stepsPerEpoch: stepsPerEpoch)
    }

    /// The run's schedule, laid out for `stepsPerEpoch` steps an epoch.
    public init(_ c: TrainConfig, stepsPerEpoch: Int) {
        self.init(schedule: c.schedule, base: c.optimizer.lr, epochs: c.epochs, stepsPerEpoch: stepsPerEpoch,
                  warmupEpochs: c.warmupEpochs ?? 0, stepSize: c.stepSize, plateauPatience: c.plateauPatience ?? LRScheduler.defaultPlateauPatience)
        phaseStarts = c.phaseStarts
    }

    /// `--plateau-patience`'s default: epochs without a better val loss before the rate is cut.
    public static let defaultPlateauPatience = 2

    public var stepsPerEpoch: Int { state.stepsPerEpoch }
    public var totalSteps: Int { stepsPerEpoch * epochs }
    /// W: round(warmup epochs x steps per epoch), half to even as Python's round.
    public var warmupSteps: Int {
        schedule == .onecycle ? 0 : min(Int((warmupEpochs * Double(stepsPerEpoch)).rounded(.toNearestOrEven)), totalSteps)
    }

    /// The rate of step `batch` (from 0) of epoch `epoch` (from 0).
    public func lr(epoch: Int, batch: Int) -> Double {
        guard phaseStarts.count > 1, let start = phaseStarts.last(where: { $0 <= epoch }) else { return phaseLR(epoch: epoch, batch: batch) }
        let end = phaseStarts.first(where: { $0 > epoch }) ?? epochs
        var phase = LRScheduler(schedule: schedule, base: base, epochs: end - start, stepsPerEpoch: stepsPerEpoch,
                                warmupEpochs: min(warmupEpochs, Double(end - start)), stepSize: stepSize, plateauPatience: plateauPatience)
        phase.state = state
        return phase.phaseLR(epoch: epoch - start, batch: batch)
    }

    /// The rate within one phase (the whole run without `--head-epochs`).
    func phaseLR(epoch: Int, batch: Int) -> Double {
        let t = epoch * stepsPerEpoch + min(batch, stepsPerEpoch - 1)
        let w = warmupSteps
        let warm = t < w ? Self.warmupStartFactor + (1 - Self.warmupStartFactor) * Double(t) / Double(w) : 1
        switch schedule {
        case .none: return base * warm
        case .cosine:
            guard t >= w else { return base * warm }
            let tMax = max(totalSteps - w, 1)
            return base * (1 + cos(Double.pi * Double(t - w) / Double(tMax))) / 2
        case .cosineEpoch: return base * warm * (1 + cos(Double.pi * Double(epoch) / Double(max(epochs, 1)))) / 2
        case .step: return base * warm * pow(0.1, Double(epoch / max(stepSize, 1)))
        case .plateau: return base * warm * state.plateauScale
        case .onecycle: return oneCycle(step: t)
        }
    }

    /// torch's OneCycleLR (two phases, cos annealing) at step `step`.
    func oneCycle(step: Int) -> Double {
        let initial = base / 25, minimum = initial / 1e4
        let total = Double(max(totalSteps, 1))
        let phases: [(end: Double, from: Double, to: Double)] = [(0.3 * total - 1, initial, base), (total - 1, base, minimum)]
        var start = 0.0
        for (i, p) in phases.enumerated() {
            if Double(step) <= p.end || i == phases.count - 1 {
                let pct = (Double(step) - start) / (p.end - start)
                return p.to + (p.from - p.to) / 2 * (1 + cos(Double.pi * pct))
            }
            start = p.end
        }
        return base
    }

    /// After epoch `epoch` (from 0) is validated: the steps move on, and ReduceLROnPlateau
    /// takes the epoch's val loss (under mpirun, the loss all processes share).
    public mutating func endEpoch(_ epoch: Int, valLoss: Double) {
        state.steps = (epoch + 1) * stepsPerEpoch
        guard schedule == .plateau else { return }
        if valLoss < (state.plateauBest ?? .infinity) * (1 - 1e-4) {
            state.plateauBest = valLoss
            state.plateauBadEpochs = 0
        } else {
            state.plateauBadEpochs += 1
        }
        if state.plateauBadEpochs > plateauPatience {
            let old = base * state.plateauScale, new = old * 0.1
            if old - new > 1e-8 { state.plateauScale *= 0.1 }
            state.plateauBadEpochs = 0
        }
    }
}

extension TrainConfig {
    /// The rate and its schedule as report.html's settings show them:
    /// `0.1, schedule cosine per step, warmup 1.5 epochs`.
    public var scheduleDescription: String {
        var s = "\(optimizer.lr), schedule \(schedule.rawValue)"
        switch schedule {
        case .none: break
        case .cosine, .onecycle: s += " per step"
        case .cosineEpoch: s += " per epoch"
        case .step: s += " per epoch (step size \(stepSize))"
        case .plateau: s += " per epoch on val loss (patience \(plateauPatience ?? LRScheduler.defaultPlateauPatience))"
        }
        if let w = warmupEpochs, w > 0 { s += ", warmup \(w) epochs from lr/100" }
        return s
    }
}
