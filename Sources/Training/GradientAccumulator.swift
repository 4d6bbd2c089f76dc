import Engine

/// `--accumulate N`: the gradients of N consecutive batches summed before one optimizer step,
/// as the usual torch loop does (`(loss / N).backward()` each batch, then every N batches, or
/// at the epoch's last batch, `step()` and `zero_grad()`): each batch's gradients scaled by
/// 1/N and added to the group's sum. A last incomplete group steps with what it has (still
/// scaled by 1/N, as that loop). With N = 1 it changes nothing.
///
/// `Network.trainStep` zeroes the gradients it writes, so the sum is kept here, one buffer
/// per trainable parameter, and written back into the gradients when the group is complete.
final class GradientAccumulator {
    /// N, the batches per optimizer step.
    let every: Int
    private var sums: [ObjectIdentifier: [Float]] = [:]
    /// Whether batches have been added since the last complete group.
    private(set) var pending = false

    init(every: Int) { self.every = max(every, 1) }

    /// Optimizer steps in an epoch of `batches` batches: ceil(batches / N).
    static func steps(batches: Int, every: Int) -> Int { (batches + max(every, 1) - 1) / max(every, 1) }

    /// Whether batch `b` (from 0) of `count` ends its group: the N-th of the group, or the epoch's last.
    func endsGroup(_ b: Int, of count: Int) -> Bool { (b + 1) % every == 0 || b == count - 1 }

    /// After a batch's backward: adds its gradients, x 1/N, to the group's. At the group's end
    /// (`end`) the trainable parameters' gradients become the sum and it returns true: step now.
    func add(_ parameters: [Parameter], end: Bool) -> Bool {
        guard every > 1 else { return true }
        let scale = 1 / Float(every)
        for p in parameters where p.trainable {
            let id = ObjectIdentifier(p), g = p.grad, fresh = !pending
            var sum = sums.removeValue(forKey: id) ?? [Float](repeating: 0, count: g.count)
            sum.withUnsafeMutableBufferPointer { s in
                for i in 0..<g.count {
                    let v = fresh ? g[i] * scale : s[i] + g[i] * scale
                    if end { g[i] = v } else { s[i] = v }
                }
            }
            if !end { sums[id] = sum }
        }
        pending = !end
        return end
    }

    /// At the end of an epoch whose group-ending batch was skipped (its images unreadable):
    /// writes the pending sum into the gradients; returns whether there was one to step with.
    func flush(_ parameters: [Parameter]) -> Bool {
        guard pending else { return false }
        for p in parameters where p.trainable {
            guard let sum = sums.removeValue(forKey: ObjectIdentifier(p)) else { continue }
            _ = p.grad.update(fromContentsOf: sum)
        }
        pending = false
        return true
    }
}
