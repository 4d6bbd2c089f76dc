import XCTest
@testable import Hub

final class HubErrorTests: XCTestCase {
    func testUnknownWeightsListsTheKnownNames() {
        let e = HubError.unknownWeights(name: "resnet99", known: ["resnet18", "resnet34"])
        XCTAssertTrue(e.description.contains("resnet18, resnet34"), e.description)
    }
}
