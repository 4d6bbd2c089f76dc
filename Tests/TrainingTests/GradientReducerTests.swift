import Cluster
import Engine
import XCTest
@testable import Training

/// The buckets of `GradientReducer`: DDP's grouping (reverse parameter order, a size cap, only
/// trainable parameters) and, for one process, gradients left as they are.
final class GradientReducerTests: XCTestCase {
    func parameters() -> [Parameter] {
        // 100, 300, 50, 200 and 10 floats; "frozen" does not train.
        [("a", 100), ("b", 300), ("frozen", 50), ("c", 200), ("d", 10)].map { name, n in
            let p = Parameter(name: name, shape: [n], values: (0..<n).map { Float($0) })
            p.trainable = name != "frozen"
            return p
        }
    }

    func testBucketsTakeTrainableParametersInReverseOrderUpToTheCap() {
        let ps = parameters()
        let r = GradientReducer(parameters: ps, cluster: .single, bucketBytes: 1200)
        XCTAssertEqual(r.buckets.map { $0.parameters.map(\.name) }, [["d", "c"], ["b"], ["a"]])
        XCTAssertEqual(r.bytesPerStep, (10 + 200 + 300 + 100) * 4)
        XCTAssertEqual(GradientReducer(parameters: ps, cluster: .single).bucketCount, 1, "25 MB holds them all")
    }

    func testOneProcessLeavesGradientsAsTheyAre() {
        let ps = parameters()
        for p in ps { for i in 0..<p.count { p.grad[i] = Float(i) * 0.5 } }
        let r = GradientReducer(parameters: ps, cluster: .single, bucketBytes: 1200)
        r.begin()
        r.ready([ps[4], ps[3]])   // the first bucket starts here
        r.ready([ps[1]])
        r.finish()                // "a" never reported: started by finish
        for p in ps { XCTAssertEqual(Array(p.grad), (0..<p.count).map { Float($0) * 0.5 }, p.name) }
        XCTAssertEqual(r.timing.steps, 1)
    }
}
