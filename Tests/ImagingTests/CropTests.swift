import XCTest
@testable import Imaging

final class CropTests: XCTestCase {
    func testTorchvisionCenterCrop() throws {
        let m = try Fixture.manifest()
        XCTAssertGreaterThanOrEqual(m.center_crop.count, 9)
        for c in m.center_crop {
            let source = try Fixture.decoded(m, c.source)
            let out = try source.centerCropped(width: c.crop_width, height: c.crop_height)
            assertPixels(out, width: c.width, height: c.height, try Fixture.bytes(c.file),
                         "CenterCrop((\(c.crop_height), \(c.crop_width))) of \(c.source) \(source.width)x\(source.height)")
        }
    }

    func testTorchvisionResizedCrop() throws {
        let m = try Fixture.manifest()
        for c in m.resized_crop {
            let source = try Fixture.decoded(m, c.source)
            let out = try source.resizedCrop(top: c.top, left: c.left, height: c.height, width: c.width,
                                             outWidth: c.size[1], outHeight: c.size[0])
            assertPixels(out, width: c.size[1], height: c.size[0], try Fixture.bytes(c.file),
                         "resized_crop(\(c.top), \(c.left), \(c.height), \(c.width), \(c.size))")
        }
    }

    func testCropOutsideIsBlackAndFlipMirrors() throws {
        let image = try RGBImage(width: 2, height: 1, pixels: [1, 2, 3, 4, 5, 6])
        let crop = try image.cropped(left: -1, top: 0, width: 4, height: 2)
        XCTAssertEqual(crop.pixels, [0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0] + [UInt8](repeating: 0, count: 12))
        XCTAssertEqual(try image.cropped(left: 5, top: 5, width: 1, height: 1).pixels, [0, 0, 0])
        XCTAssertEqual(image.flippedHorizontally().pixels, [4, 5, 6, 1, 2, 3])
        XCTAssertThrowsError(try image.cropped(left: 0, top: 0, width: -1, height: 1))
        XCTAssertThrowsError(try image.centerCropped(width: 0, height: 1))
    }
}
