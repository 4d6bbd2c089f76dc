import XCTest
@testable import Imaging

final class TensorTests: XCTestCase {
    func testToTensorNormalizeOfEveryByteValue() throws {
        let m = try Fixture.manifest()
        XCTAssertEqual(m.mean, Normalization.imagenet.mean)
        XCTAssertEqual(m.std, Normalization.imagenet.std)
        let ramp = try RGBImage(width: m.normalize.width, height: m.normalize.height,
                                pixels: Fixture.bytes(m.normalize.rgb))
        assertFloats(try Normalization.imagenet.tensor(ramp), try Fixture.floats(m.normalize.file),
                     "ToTensor+Normalize of the 256-value ramp")
    }

    func testEvalTensorOfEveryFixture() throws {
        let m = try Fixture.manifest()
        var raw = 0
        for entry in m.images {
            let t = EvalTransform(resize: entry.eval.resize, crop: entry.eval.crop)
            let tensor = try t.tensor(path: Fixture.path(entry.file))
            let what = "\(entry.name) Resize(\(entry.eval.resize)) CenterCrop(\(entry.eval.crop))"
            if let file = entry.eval.file {
                assertFloats(tensor, try Fixture.floats(file), what)
                raw += 1
            }
            XCTAssertEqual(sha256Hex(floatBytes(tensor)), entry.eval.sha256, what)
        }
        XCTAssertGreaterThanOrEqual(raw, 10)
    }

    func testFullSizeEvalTensorHashes() throws {
        let m = try Fixture.manifest()
        XCTAssertEqual(m.full_eval.count, 4)
        for f in m.full_eval {
            let path = Fixture.path(f.file)
            let resized = try ImageDecoder.decode(path: path).resized(shorterSide: 256)
            XCTAssertEqual(resized.width, f.resized_width, f.name)
            XCTAssertEqual(resized.height, f.resized_height, f.name)
            XCTAssertEqual(sha256Hex(resized.pixels), f.resized_sha256, "\(f.name): Resize(256) pixels")
            let tensor = try evalTensor(path: path)
            XCTAssertEqual(tensor.count, 3 * 224 * 224)
            XCTAssertEqual(sha256Hex(floatBytes(tensor)), f.tensor_sha256, "\(f.name): eval tensor")
        }
    }

    func testWritingIntoABatchSlot() throws {
        let m = try Fixture.manifest()
        let t = EvalTransform(resize: 32, crop: 28)
        let entries = m.images.filter { $0.eval.file != nil }.prefix(3)
        var batch = [Float](repeating: .nan, count: t.tensorCount * entries.count)
        try batch.withUnsafeMutableBufferPointer { buffer in
            for (i, entry) in entries.enumerated() {
                let slot = UnsafeMutableBufferPointer(rebasing: buffer[(i * t.tensorCount)..<((i + 1) * t.tensorCount)])
                try t.write(path: Fixture.path(entry.file), into: slot)
            }
            XCTAssertThrowsError(try t.write(path: Fixture.path(entries.first!.file),
                                             into: UnsafeMutableBufferPointer(rebasing: buffer[0..<10])))
        }
        for (i, entry) in entries.enumerated() {
            assertFloats(Array(batch[(i * t.tensorCount)..<((i + 1) * t.tensorCount)]),
                         try Fixture.floats(try XCTUnwrap(entry.eval.file)), "batch slot \(i) (\(entry.name))")
        }
    }

    func testSHA256() {
        XCTAssertEqual(sha256Hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(sha256Hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
