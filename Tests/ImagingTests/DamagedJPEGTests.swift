import Foundation
import XCTest
@testable import Imaging

/// Damaged JPEGs and odd EXIF orientations (Fixtures/damaged, made by gen_damaged.py):
/// what PIL reads, Graft reads bit-identically; what PIL refuses, Graft refuses.
final class DamagedJPEGTests: XCTestCase {
    static let folder = Fixture.root.deletingLastPathComponent().appendingPathComponent("damaged")

    func testEveryCaseAgreesWithPIL() throws {
        let m = try PILVerdicts.load(Self.folder)
        XCTAssertGreaterThan(m.cases.count, 50)
        for c in m.cases {
            let verdict = compare(c, in: Self.folder)
            XCTAssert(verdict == .identical || verdict == .bothRefuse,
                      "\(c.name) (\(c.what ?? "")): PIL \(c.pil) \(c.error ?? ""); Graft: \(verdict)")
        }
    }
}
