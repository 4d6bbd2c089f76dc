import ArgumentParser
import CLISupport
import XCTest

/// The options predict and batch_predict share.
final class ModelOptionsTests: XCTestCase {
    /// `--allow-objects`, which the "whole pickled model" error suggests, is accepted, and its
    /// help says that nothing is executed.
    func testAllowObjectsIsAcceptedAndExplained() throws {
        XCTAssertTrue(try ModelOptions.parse(["--allow-objects"]).read.allowObjects)
        XCTAssertFalse(try ModelOptions.parse([]).read.allowObjects)
        let help = ModelOptions.helpMessage(columns: 400)
        XCTAssertTrue(help.contains("--allow-objects"), help)
        XCTAssertTrue(help.lowercased().contains("execut"), help)
    }
}
