import Random

/// `finetune --sampler`: which training images each epoch takes.
public enum SamplerKind: String, CaseIterable, Codable, Sendable {
    /// Every readable training image once, shuffled (torch's `RandomSampler`; `DistributedSampler`
    /// under mpirun).
    case random
    /// Draws with replacement, each image with probability proportional to 1 / its class's count.
    case balanced
}

/// `--sampler balanced`: torch's `WeightedRandomSampler(weights, num_samples=len(train),
/// replacement=True)` with `weights[i] = 1 / count(class of i)`, drawn from Graft's seeded
/// generator: every class is drawn about equally often, an image of a small class many times
/// an epoch. The draws are the epoch's global order: under mpirun every rank draws the same
/// sequence from the shared seed and `DistributedSampler.shard` splits it as it splits a
/// shuffle.
public enum BalancedSampler {
    /// `indices.count` draws from `indices` (the readable training images), `label(i)` giving
    /// image i's class; the same for the same (seed, epoch).
    public static func epochOrder(_ indices: [Int], label: (Int) -> Int, seed: UInt64, epoch: Int) -> [Int] {
        guard !indices.isEmpty else { return [] }
        var count: [Int: Int] = [:]
        for i in indices { count[label(i), default: 0] += 1 }
        // Cumulative weights, then one binary search per draw (torch.multinomial's distribution).
        var cumulative: [Double] = []
        cumulative.reserveCapacity(indices.count)
        var total = 0.0
        for i in indices {
            total += 1 / Double(count[label(i)] ?? 1)
            cumulative.append(total)
        }
        var rng = SeededRandom(seed: seed, stream: 0xBA1A, UInt64(epoch))
        return (0..<indices.count).map { _ in
            let u = rng.unit() * total
            var lo = 0, hi = cumulative.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cumulative[mid] > u { hi = mid } else { lo = mid + 1 }
            }
            return indices[lo]
        }
    }
}

extension Trainer {
    /// The epoch's global order of training images (`--sampler`), before each process takes
    /// its share: the readable images shuffled, or `BalancedSampler`'s draws.
    func epochOrder(_ epoch: Int) -> [Int] {
        let readable = data.train.indices.filter { unreadable[$0] == nil }
        if config.sampler == .balanced {
            return BalancedSampler.epochOrder(readable, label: { data.train[$0].label }, seed: config.seed, epoch: epoch)
        }
        return DistributedSampler.epochOrder(readable, seed: config.seed, epoch: epoch)
    }

    /// `--class-weights balanced`: the loss's class weights, from the training split's counts;
    /// nil for none.
    var lossWeights: [Float]? {
        guard config.classWeights == .balanced else { return nil }
        return ClassBalance.balancedWeights(labels: data.train.map(\.label), classes: model.numClasses).map(Float.init)
    }
}
