import Engine
import Foundation
import ResNet
import XCTest

/// A resnet34 training step at batch 32, 224x224: set GRAFT_TRAIN_BENCH=1 (and build with
/// `-c release`) to run it; it prints images/s for the `all` and `fc` policies.
final class TrainStepBenchmark: XCTestCase {
    func testResNet34TrainStepSpeed() throws {
        guard let v = ProcessInfo.processInfo.environment["GRAFT_TRAIN_BENCH"], v == "1" else {
            throw XCTSkip("set GRAFT_TRAIN_BENCH=1 to run the training benchmark")
        }
        let batch = 32, side = 224
        let steps = Int(ProcessInfo.processInfo.environment["GRAFT_TRAIN_STEPS"] ?? "") ?? 3
        if let gb = Int(ProcessInfo.processInfo.environment["GRAFT_POOL_GB"] ?? "") { CPUEngine.shared.buffers.limitBytes = gb << 30 }
        let model = try TrainableResNet(stateDict: nil, architecture: "resnet34", head: .replace(numClasses: 5), seed: 1)
        var images = [Float](repeating: 0, count: batch * 3 * side * side)
        var state: UInt32 = 1
        for i in images.indices { state = state &* 1_664_525 &+ 1_013_904_223; images[i] = Float(Int(state >> 9) % 2001 - 1000) / 500 }
        let labels = (0..<batch).map { $0 % 5 }
        if ProcessInfo.processInfo.environment["GRAFT_TRAIN_WINOGRAD"] == "1" { model.convolutionAlgorithm = .winograd }
        for (policy, trains) in [("all", { (_: String) in true }), ("last", { (n: String) in n.hasPrefix("layer4.") || n.hasPrefix("fc.") }),
                                 ("fc", { (n: String) in n.hasPrefix("fc.") })]
            where (ProcessInfo.processInfo.environment["GRAFT_TRAIN_POLICIES"] ?? "all,last,fc").split(separator: ",").contains(Substring(policy)) {
            model.setTrainable(trains)
            model.frozenBN = .eval
            try images.withUnsafeBufferPointer { buf in
                _ = try model.trainStep(images: buf, labels: labels, batch: batch, height: side, width: side)  // warm-up
                var dt = Double.infinity  // the fastest step: the machine is shared
                for _ in 0..<steps {
                    let t0 = Date()
                    _ = try model.trainStep(images: buf, labels: labels, batch: batch, height: side, width: side)
                    dt = min(dt, Date().timeIntervalSince(t0))
                }
                print(String(format: "[bench] resnet34 train step (%@, frozen BN eval), batch 32 224x224: fastest of \(steps) steps %.3f s, %.1f images/s; idle pool %.2f GB",
                             policy, dt, Double(batch) / dt, Double(CPUEngine.shared.buffers.heldBytes) / 1e9))
            }
        }
    }
}
