import TestSupport
import Foundation
import Imaging
import XCTest
import Inference
@testable import Training

/// The data scan: symbolic links followed but never into a folder read already, each image
/// under its own class folder's label, unusable files left out before they are counted, and
/// a --val-split that validates every class. Data folders are built in a temporary folder
/// from Fixtures/trainset's images.
final class DataFolderTests: XCTestCase {
    static let fixtures = FinetuneTests.fixtures
    static let daisy = fixtures.appendingPathComponent("trainset/train/daisy").path

    var root = ""

    override func setUpWithError() throws {
        root = Scratch.root.appendingPathComponent("graft-data-\(getpid())-\(name.filter(\.isLetter))").path
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    /// `folder` with `count` real images from the fixtures.
    func images(_ folder: String, _ count: Int) throws {
        let dir = root + "/" + folder
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let sources = try FileManager.default.contentsOfDirectory(atPath: Self.daisy).sorted().prefix(count)
        XCTAssertEqual(sources.count, count, "not enough fixture images")
        for name in sources { try FileManager.default.copyItem(atPath: Self.daisy + "/" + name, toPath: dir + "/" + name) }
    }

    func link(_ at: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/" + at, withDestinationPath: target)
    }

    func file(_ at: String, _ bytes: [UInt8]) {
        XCTAssertTrue(FileManager.default.createFile(atPath: root + "/" + at, contents: Data(bytes)), at)
    }

    /// Every sample sits under the folder of the class its label names.
    /// `classAt`: the index of the class folder in the path below `root`.
    func assertLabelsMatchFolders(_ data: ImageFolder, _ samples: [ImageFolder.Sample], classAt: Int = 1,
                                  file: StaticString = #filePath, line: UInt = #line) {
        for s in samples {
            let parts = s.path.dropFirst(root.count).split(separator: "/").map(String.init)
            XCTAssertGreaterThan(parts.count, classAt + 1, s.path, file: file, line: line)
            XCTAssertEqual(parts.dropFirst(classAt).first, data.classes[s.label], "\(s.path) has label \(data.classes[s.label])", file: file, line: line)
        }
    }

    func testALinkBackToTheParentIsNotFollowed() throws {
        for c in ["a", "b", "c"] { try images("train/\(c)", 6); try images("val/\(c)", 1) }
        try link("train/b/up", to: "..")                  // train/b/up/b/up/... and train/b/up/a, c
        let data = try ImageFolder(root: root)
        XCTAssertEqual(data.train.count, 18, "each image once")
        XCTAssertEqual(data.val.count, 3)
        assertLabelsMatchFolders(data, data.train)
        XCTAssertEqual(data.loops.count, 1, "one warning for the loop: \(data.loops)")
        XCTAssertTrue(data.loops.first?.contains("train/b/up") ?? false, "\(data.loops)")
    }

    func testALinkIntoAnotherClassKeepsEachImageUnderItsOwnLabel() throws {
        for c in ["a", "b"] { try images("train/\(c)", 3); try images("val/\(c)", 1) }
        try link("train/b/more", to: "../a")
        try link("train/a/same", to: "../../train/a")
        let data = try ImageFolder(root: root)
        XCTAssertEqual(data.train.count, 6)
        assertLabelsMatchFolders(data, data.train)
        XCTAssertEqual(data.loops.count, 2, "\(data.loops)")
        XCTAssertTrue(data.loops.contains { $0.contains("train/b/more") && $0.contains("class a") }, "\(data.loops)")
    }

    func testALinkFromTrainIntoValIsNotFollowed() throws {
        for c in ["a", "b"] { try images("train/\(c)", 3); try images("val/\(c)", 2) }
        try link("train/a/peek", to: "../../val/a")
        let data = try ImageFolder(root: root)
        XCTAssertEqual(data.train.count, 6, "no validation image is trained on")
        XCTAssertFalse(data.train.contains { $0.path.contains("/val/") || $0.path.contains("peek") })
        XCTAssertEqual(data.val.count, 4)
        XCTAssertEqual(data.loops.count, 1)
    }

    /// Found in review: links into another class's *subfolder*, into a subfolder of val, and
    /// links to single images of another class or of val. None of them is followed.
    func testLinksIntoSubfoldersAndImagesOfOtherClassesOrValAreNotFollowed() throws {
        for c in ["a", "b"] { try images("train/\(c)", 2); try images("train/\(c)/sub", 2); try images("val/\(c)/sub", 2) }
        try link("train/a/theirs", to: "../b/sub")              // a subfolder of class b
        try link("train/a/fromval", to: "../../val/a/sub")      // a subfolder of val/a
        let b1 = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: root + "/train/b").sorted().first { $0.hasSuffix(".jpg") })
        let v1 = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: root + "/val/a/sub").sorted().first)
        try link("train/a/x.jpg", to: "../b/" + b1)             // one image of class b
        try link("train/a/y.jpg", to: "../../val/a/sub/" + v1)  // one validation image
        let data = try ImageFolder(root: root)
        XCTAssertEqual(data.train.filter { $0.label == 0 }.count, 4, "class a: its own 4 images: \(data.train.map(\.path))")
        XCTAssertEqual(data.train.filter { $0.label == 1 }.count, 4, "class b keeps its subfolder")
        XCTAssertEqual(data.val.count, 4, "validation keeps its images")
        assertLabelsMatchFolders(data, data.train)
        XCTAssertEqual(data.loops.count, 2, "\(data.loops)")
        XCTAssertTrue(data.loops.allSatisfy { $0.contains("another class or split") }, "\(data.loops)")
        XCTAssertEqual(data.skipped.filter { $0.reason.contains("another class or split") }.count, 2, "\(data.skipped)")
    }

    /// A class folder that is itself a link to a folder elsewhere claims what is inside it too.
    func testAClassFolderThatIsALinkClaimsItsSubfolders() throws {
        for c in ["a", "b"] { try images("train/\(c)", 2); try images("val/\(c)", 1) }
        try images("elsewhere/c", 2)
        try images("elsewhere/c/sub", 2)
        try link("train/c", to: root + "/elsewhere/c")
        try images("val/c", 1)
        try link("train/a/theirs", to: root + "/elsewhere/c/sub")  // inside class c, through its link
        let data = try ImageFolder(root: root)
        XCTAssertEqual(data.train.filter { $0.label == 0 }.count, 2, "\(data.train.map(\.path))")
        XCTAssertEqual(data.train.filter { $0.label == 2 }.count, 4)
        XCTAssertEqual(data.loops.count, 1, "\(data.loops)")
    }

    func testAFolderOutsideIsFollowedOnceOnly() throws {
        for c in ["a", "b"] { try images("train/\(c)", 2); try images("val/\(c)", 1) }
        try images("elsewhere/more", 3)
        try link("train/a/extra", to: root + "/elsewhere/more")
        try link("train/b/extra", to: root + "/elsewhere/more")
        let data = try ImageFolder(root: root)
        XCTAssertEqual(data.train.filter { $0.label == 0 }.count, 5, "the linked folder's images join class a")
        XCTAssertEqual(data.train.filter { $0.label == 1 }.count, 2, "and not class b too")
        XCTAssertEqual(data.loops.count, 1)
    }

    func testTwoClassFoldersThatAreOneFolderAreRefused() throws {
        try images("train/a", 2); try images("val/a", 1)
        try link("train/b", to: "a"); try link("val/b", to: "a")
        XCTAssertThrowsError(try ImageFolder(root: root)) { XCTAssertTrue("\($0)".contains("same folder"), "\($0)") }
    }

    func testValSplitPutsAtLeastOneImageOfEachClassInVal() throws {
        for c in ["a", "b", "c"] { try images(c, 6) }
        let data = try ImageFolder(root: root, valSplit: 0.1, seed: 0)
        XCTAssertEqual(data.val.map(\.label).sorted(), [0, 1, 2], "floor(6 * 0.1) = 0, raised to 1 per class")
        XCTAssertEqual(data.train.count, 15)
        XCTAssertTrue(data.valSource.contains("at least 1"), data.valSource)
        assertLabelsMatchFolders(data, data.train + data.val, classAt: 0)
        // The tutorial's floor(n * split) where it gives one or more: 20 images at 0.1 give 2.
        try images("d", 6)
        for i in 0..<14 { try FileManager.default.copyItem(atPath: root + "/d/00.jpg", toPath: root + "/d/x\(i).jpg") }
        let more = try ImageFolder(root: root, valSplit: 0.1, seed: 0)
        XCTAssertEqual(more.val.filter { $0.label == 3 }.count, 2)
    }

    func testValSplitRefusesAClassWithOneImageAndASplitOfZero() throws {
        try images("a", 3); try images("b", 1)
        XCTAssertThrowsError(try ImageFolder(root: root, valSplit: 0.2)) {
            XCTAssertTrue("\($0)".contains("\(root)/b has 1 usable image"), "\($0)")
        }
        try FileManager.default.removeItem(atPath: root + "/b")
        XCTAssertThrowsError(try ImageFolder(root: root, valSplit: 0)) { XCTAssertTrue("\($0)".contains("--val-split is 0"), "\($0)") }
    }

    func testUnusableFilesAreSkippedBeforeTheyAreCounted() throws {
        try images("train/a", 4); try images("train/b", 4); try images("val/a", 1); try images("val/b", 1)
        file("train/a/empty.jpg", [])
        file("train/a/fake.jpg", Array("hello, not an image".utf8))
        file("train/a/torn.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0x20, 0x74] + Array("this is not really a JPEG".utf8))
        file("train/b/notes.txt", Array("notes".utf8))
        try link("train/b/self.jpg", to: "self.jpg")
        try link("train/b/gone.png", to: "nothing-here.png")
        let data = try ImageFolder(root: root)
        XCTAssertEqual(data.train.count, 8, "only the real images count")
        let reasons = Dictionary(uniqueKeysWithValues: data.skipped.map { (($0.path as NSString).lastPathComponent, $0.reason) })
        XCTAssertEqual(Set(reasons.keys), ["empty.jpg", "fake.jpg", "torn.jpg", "notes.txt", "self.jpg", "gone.png"])
        XCTAssertTrue(reasons["empty.jpg"]?.contains("empty") ?? false)
        XCTAssertTrue(reasons["self.jpg"]?.contains("loop") ?? false, reasons["self.jpg"] ?? "")
        XCTAssertTrue(reasons["gone.png"]?.contains("does not exist") ?? false, reasons["gone.png"] ?? "")
        for r in reasons.values { XCTAssertFalse(r.contains("NSCocoaErrorDomain") || r.contains("Error Domain"), r) }
        XCTAssertEqual(data.warnings.count, 7, "one warning per file, and the count")
        XCTAssertEqual(data.warnings.last, "6 files left out: 1 not .jpg, .jpeg or .png, 3 not usable images inside, 2 unreadable")
    }

    /// A class folder and an image whose names are not UTF-8 (byte 0xFF), as torchvision's
    /// ImageFolder finds them: scanned, named, sorted as Python sorts os.listdir's names, read.
    func testNamesThatAreNotUTF8AreFoundAndRead() throws {
        try images("train/a", 2); try images("val/a", 1)
        let odd = PathBytes.string([0x62, 0xFF])                      // "b\xFF"
        for split in ["train", "val"] {
            let folder = root + "/" + split + "/" + odd
            XCTAssertEqual(PathBytes.withCString(folder) { mkdir($0, 0o755) }, 0)
            let image = folder + "/" + PathBytes.string([0xFE]) + ".jpg"
            let fd = PathBytes.withCString(image) { open($0, O_CREAT | O_WRONLY, 0o644) }
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.daisy + "/00.jpg")))
            XCTAssertEqual(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, bytes.count)
            close(fd)
        }
        defer { for split in ["train", "val"] { _ = PathBytes.withCString(root + "/" + split + "/" + odd) { p in
            _ = PathBytes.withCString(root + "/" + split + "/" + odd + "/" + PathBytes.string([0xFE]) + ".jpg") { unlink($0) }
            return rmdir(p)
        } } }
        let data = try ImageFolder(root: root)
        XCTAssertEqual(data.classes, ["a", odd])
        XCTAssertEqual(data.train.filter { $0.label == 1 }.count, 1, "the image in the odd folder is found: \(data.warnings)")
        XCTAssertTrue(data.warnings.isEmpty, "\(data.warnings)")
        let sample = try XCTUnwrap(data.train.first { $0.label == 1 })
        XCTAssertEqual(Array(PathBytes.bytes(sample.path).suffix(8)), [0x62, 0xFF, 0x2F, 0xFE, 0x2E, 0x6A, 0x70, 0x67], "its own bytes")
        XCTAssertNoThrow(try ImageDecoder.decode(path: sample.path))
        XCTAssertEqual(TerminalText.escaped(data.classes[1]), "b\\xff")
        XCTAssertTrue(ClassIndices(names: data.classes).json.contains("\"b\\udcff\""), "json.dumps' spelling")
    }

    func testFailureMessagesShowControlCharactersEscaped() {
        let failure = ImageFolder.Failure.classCount(expected: 2, found: ["\u{1B}]0;pwned\u{07}", "b"])
        XCTAssertEqual("\(failure)", "--classes 2, but the data has 2 classes: \\x1b]0;pwned\\x07, b. Pass --classes 2.")
    }

    func testMessagesSayWhatIsWrong() throws {
        try images("train/a", 2); try images("val/a", 1); try images("val/c", 1)
        XCTAssertThrowsError(try ImageFolder(root: root)) {
            XCTAssertTrue("\($0)".contains("only in val: c"), "\($0)")
            XCTAssertFalse("\($0)".contains("only in train"), "no empty list: \($0)")
        }
        file("plain", [1])
        XCTAssertThrowsError(try ImageFolder(root: root + "/plain")) { XCTAssertTrue("\($0)".contains("is a file, not a folder"), "\($0)") }
        XCTAssertThrowsError(try ImageFolder(root: root + "/none")) { XCTAssertTrue("\($0)".contains("no such folder"), "\($0)") }
    }

    /// batch_predict's listing: a link back up is read once, and warned about once.
    func testImageListFollowsLinksIntoNoFolderTwice() throws {
        try images("pics/sub", 2); try images("pics", 1)
        try link("pics/sub/up", to: "..")
        let listing = try ImageList.scan(root + "/pics", recursive: true)
        XCTAssertEqual(listing.images.count, 3)
        XCTAssertEqual(listing.loops.count, 1)
        XCTAssertEqual(try ImageList.scan(root + "/pics", recursive: false).images.count, 1)
    }

    /// No image that decodes is turned away by the header probe (every fixture format: 4:2:0,
    /// progressive, CMYK, Exif, 16-bit, palette, interlaced PNG...); the others are caught.
    func testHeaderProbeAcceptsEveryDecodableFixture() throws {
        let dir = Self.fixtures.appendingPathComponent("images/src").path
        var decodable = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() {
            let path = dir + "/" + name
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            let problem = ImageProbe.problem(path: path, size: size)
            if (try? ImageDecoder.decode(path: path)) != nil {
                decodable += 1
                XCTAssertNil(problem, name)
            } else if name.hasPrefix("bad_") {
                XCTAssertNotNil(problem, "\(name) cannot be decoded")
            }
        }
        XCTAssertGreaterThan(decodable, 40)
        // A JPEG cut inside its header.
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/jpeg_exif1.jpg")))
        file("cut.jpg", Array(whole.prefix(40)))
        XCTAssertNotNil(ImageProbe.problem(path: root + "/cut.jpg", size: 40))
    }
}
