import XCTest
@testable import Hub

/// The registry's facts (generated from torchvision 0.29 by Fixtures/gen_hub.py).
final class TorchvisionWeightsTests: XCTestCase {
    func testEveryResNetAndVGGWeightsIsListedOnce() {
        // 10 ResNet architectures with V1; V2 for resnet50/101/152, resnext50_32x4d, resnext101_32x8d
        // and both wide ResNets (torchvision 0.29): 10 + 7; 8 VGGs with V1 (vgg16's
        // IMAGENET1K_FEATURES, a feature extractor without ImageNet's classes, is left out).
        XCTAssertEqual(TorchvisionWeights.all.count, 17 + 8)
        XCTAssertEqual(Set(TorchvisionWeights.all.map(\.name)).count, TorchvisionWeights.all.count)
        XCTAssertEqual(Set(TorchvisionWeights.all.map(\.fileName)).count, TorchvisionWeights.all.count)
        let architectures = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                             "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
                             "wide_resnet50_2", "wide_resnet101_2",
                             "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]
        for arch in architectures {
            let defaults = TorchvisionWeights.all.filter { $0.architecture == arch && $0.isDefault }
            XCTAssertEqual(defaults.count, 1, arch)
        }
        XCTAssertEqual(Set(TorchvisionWeights.all.map(\.architecture)), Set(architectures))
    }

    func testResNet34DefaultIsV1() throws {
        let w = try TorchvisionWeights.named("resnet34")
        XCTAssertEqual(w.version, "IMAGENET1K_V1")
        XCTAssertEqual(w.fileName, "resnet34-b627a593.pth")
        XCTAssertEqual(w.url, "https://download.pytorch.org/models/resnet34-b627a593.pth")
        XCTAssertEqual(w.sha256Prefix, "b627a593")
        XCTAssertEqual(w.resize, 256)
        XCTAssertEqual(w.crop, 224)
        XCTAssertTrue(w.isDefault)
    }

    func testResNet50V2IsEvaluatedAt232Then224AndIsTheDefault() throws {
        let v2 = try TorchvisionWeights.named("resnet50:IMAGENET1K_V2")
        XCTAssertEqual(v2.resize, 232)
        XCTAssertEqual(v2.crop, 224)
        XCTAssertEqual(v2.interpolation, .bilinear)
        XCTAssertEqual(v2.fileName, "resnet50-11ad3fa6.pth")
        XCTAssertTrue(v2.isDefault)
        XCTAssertEqual(try TorchvisionWeights.named("resnet50"), v2)
        XCTAssertEqual(try TorchvisionWeights.named("resnet50:DEFAULT"), v2)
        XCTAssertEqual(try TorchvisionWeights.named("ResNet50_Weights.IMAGENET1K_V2"), v2)
        let v1 = try TorchvisionWeights.named("resnet50:IMAGENET1K_V1")
        XCTAssertEqual(v1.resize, 256)
        XCTAssertFalse(v1.isDefault)
    }

    func testHashesURLsAndSizesLookRight() {
        for w in TorchvisionWeights.all {
            XCTAssertTrue(w.url.hasPrefix("https://download.pytorch.org/models/"), w.url)
            XCTAssertTrue(w.url.hasSuffix("/" + w.fileName), w.url)
            XCTAssertTrue(w.fileName.hasPrefix(w.architecture + "-"), w.fileName)
            XCTAssertTrue(w.fileName.hasSuffix("-" + w.sha256Prefix + ".pth"), w.fileName)
            XCTAssertGreaterThanOrEqual(w.sha256Prefix.count, 8, w.fileName)
            XCTAssertTrue(w.sha256Prefix.allSatisfy { "0123456789abcdef".contains($0) }, w.sha256Prefix)
            XCTAssertEqual(w.crop, 224, w.name)
            XCTAssertTrue([232, 256].contains(w.resize), w.name)
            XCTAssertEqual(w.interpolation, .bilinear, w.name)
            XCTAssertTrue((40.0...600.0).contains(w.fileSizeMB ?? 0), "\(w.name): \(String(describing: w.fileSizeMB))")
            if w.architecture.hasPrefix("vgg") { XCTAssertEqual(w.version, "IMAGENET1K_V1"); XCTAssertEqual(w.resize, 256) }
        }
    }

    func testUnknownNamesListTheKnownOnes() {
        for bad in ["resnet99", "resnet50:IMAGENET1K_V3", "ResNet50_Weights.V9", "vgg16:IMAGENET1K_FEATURES", "alexnet", ""] {
            XCTAssertThrowsError(try TorchvisionWeights.named(bad), bad) { error in
                guard case let HubError.unknownWeights(name, known) = error else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(name, bad)
                XCTAssertTrue(known.contains("resnet34"))
                XCTAssertTrue(known.contains("resnet50:IMAGENET1K_V2"))
                XCTAssertTrue(known.contains("wide_resnet101_2:IMAGENET1K_V1"))
                XCTAssertEqual(known.count, 10 + 17 + 8 + 8)
                XCTAssertTrue(known.contains("vgg16_bn:IMAGENET1K_V1"))
                XCTAssertTrue("\(error)".contains("resnext101_64x4d:IMAGENET1K_V1"), "\(error)")
            }
        }
    }
}
