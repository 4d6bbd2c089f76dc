import TestSupport
import Foundation
import XCTest
@testable import Training

/// demo_data's output folder named by one character is made in the current folder
/// (swift-corelibs-foundation's NSString.deletingLastPathComponent, used before, traps on it).
final class OneCharacterPathTests: XCTestCase {
    func testDemoDataFolderOfOneCharacterIsMade() throws {
        let dir = Scratch.root.appendingPathComponent("graft-onechar-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let here = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(dir.path)
        defer { FileManager.default.changeCurrentDirectoryPath(here) }
        try FashionMNISTFolder.makeFolders("d")
        var isDir: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("d").path, isDirectory: &isDir) && isDir.boolValue)
    }
}
