import XCTest
import Foundation
@testable import Imaging
final class ZZBenchTemp: XCTestCase {
    func testBench() throws {
        let start = Date()
        for _ in 0..<5 { _ = try evalTensor(path: "/tmp/big.jpg") }
        let t1 = Date()
        let img = try ImageDecoder.decode(path: "/tmp/big.jpg")
        let t2 = Date()
        _ = try img.resized(shorterSide: 256)
        let t3 = Date()
        print("BENCH per image \(t1.timeIntervalSince(start) / 5) decode \(t2.timeIntervalSince(t1)) resize \(t3.timeIntervalSince(t2))")
    }
}
