import TestSupport
import XCTest

/// The shared error measures (Tests/TestSupport/Tolerances.swift) fail what they cannot
/// compare: a NaN or an infinity on one side, or two arrays of different lengths, measure
/// +infinity, so that every `error <= bound` assertion built on them fails.
final class ToleranceTests: XCTestCase {
    let want: [Float] = [1, -2, 4, 0.5]

    func testEqualArraysMeasureZeroAndDifferencesMeasureWhatTheySay() {
        XCTAssertEqual(relativeError(want, want), 0)
        XCTAssertEqual(maxAbsError(want, want), 0)
        XCTAssertEqual(maxRelativeError(want, want, rows: 2), 0)
        let off: [Float] = [1, -2, 4.4, 0.5]
        XCTAssertEqual(relativeError(off, want), 0.1, accuracy: 1e-6)              // 0.4 / 4
        XCTAssertEqual(maxAbsError(off, want), 0.4, accuracy: 1e-6)
        XCTAssertEqual(maxRelativeError(off, want, rows: 2), 0.1, accuracy: 1e-6)  // row 2: 0.4 / 4
        XCTAssertEqual(relativeError([0, 0], [0, 0]), 0)
    }

    func testNaNOnEitherSideIsInfinitelyFar() {
        for i in want.indices {
            var a = want
            a[i] = .nan
            XCTAssertEqual(relativeError(a, want), .infinity, "NaN at \(i)")
            XCTAssertEqual(relativeError(want, a), .infinity, "NaN expected at \(i)")
            XCTAssertEqual(maxAbsError(a, want), .infinity, "NaN at \(i)")
            XCTAssertEqual(maxAbsError(want, a), .infinity, "NaN expected at \(i)")
            XCTAssertEqual(maxRelativeError(a, want, rows: 2), .infinity, "NaN at \(i)")
            XCTAssertEqual(maxRelativeError(want, a, rows: 2), .infinity, "NaN expected at \(i)")
        }
        XCTAssertEqual(relativeError([.nan], [.nan]), .infinity, "NaN never equals NaN")
    }

    func testInfinityIsInfinitelyFarUnlessBothSidesHaveIt() {
        var a = want
        a[2] = .infinity
        XCTAssertEqual(relativeError(a, want), .infinity)
        XCTAssertEqual(maxAbsError(want, a), .infinity)
        XCTAssertEqual(maxRelativeError(a, want, rows: 1), .infinity)
        var b = want
        b[2] = -.infinity
        XCTAssertEqual(relativeError(a, b), .infinity, "+inf against -inf")
        XCTAssertEqual(relativeError(a, a), 0, "the same infinity on both sides is no difference")
        XCTAssertEqual(maxAbsError(a, a), 0)
    }

    func testLengthMismatchIsInfinitelyFar() {
        XCTAssertEqual(relativeError(want, Array(want.dropLast())), .infinity)
        XCTAssertEqual(maxAbsError(Array(want.dropLast()), want), .infinity)
        XCTAssertEqual(maxAbsError([], want), .infinity)
        XCTAssertEqual(maxRelativeError(want, want + want, rows: 2), .infinity)
        XCTAssertEqual(maxRelativeError(want, want, rows: 3), .infinity, "4 values are not 3 rows")
        XCTAssertEqual(maxRelativeError(want, want, rows: 0), .infinity)
    }
}
