import Foundation
import XCTest
@testable import Imaging

/// Opt-in: Graft against PIL over a folder of images, usually Pillow's own Tests/images.
/// Set GRAFT_PIL_CORPUS to the output folder of Fixtures/check_pillow_corpus.py (see there).
/// Every file PIL reads must decode bit-identically; files PIL refuses are listed, and a
/// file Graft reads but PIL refuses is reported but does not fail the test.
final class PillowCorpusTests: XCTestCase {
    func testEveryImagePILReadsIsReadIdentically() throws {
        guard let dir = ProcessInfo.processInfo.environment["GRAFT_PIL_CORPUS"], !dir.isEmpty else {
            throw XCTSkip("set GRAFT_PIL_CORPUS to a folder made by Fixtures/check_pillow_corpus.py")
        }
        let folder = URL(fileURLWithPath: dir)
        let m = try PILVerdicts.load(folder)
        var tally: [String: Int] = [:]
        var lines: [String] = []
        for c in m.cases {
            let verdict = compare(c, in: folder)
            let key: String
            switch verdict {
            case .identical: key = "identical"
            case .bothRefuse: key = "both refuse"
            case .graftReads: key = "PIL refuses, Graft reads"
                lines.append("  \(c.file): PIL refuses (\(c.error ?? "")), Graft reads it")
            case .graftRefuses(let why): key = "PIL reads, Graft refuses"
                lines.append("  \(c.file): PIL reads it, Graft refuses: \(why)")
                XCTFail("\(c.file): PIL reads it, Graft refuses: \(why)")
            case .differentSize(let why), .differentPixels(let why): key = "PIL reads, Graft differs"
                lines.append("  \(c.file): \(why)")
                XCTFail("\(c.file): \(why)")
            }
            tally["\(c.kind ?? "?") \(key)", default: 0] += 1
        }
        let pilReads = m.cases.filter { $0.pil == "read" }.count
        print("Pillow \(m.pillow) corpus: \(m.cases.count) files, PIL reads \(pilReads)")
        for (k, n) in tally.sorted(by: { $0.key < $1.key }) { print("  \(k): \(n)") }
        print(lines.joined(separator: "\n"))
    }
}
