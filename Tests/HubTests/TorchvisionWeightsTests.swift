import XCTest
@testable import Hub

/// The registry's facts (generated from torchvision 0.29 by Fixtures/gen_hub.py).
final class TorchvisionWeightsTests: XCTestCase {
    func testEveryWeightsIsListedOnce() {
        // 10 ResNet architectures with V1; V2 for resnet50/101/152, resnext50_32x4d, resnext101_32x8d
        // and both wide ResNets (torchvision 0.29): 10 + 7; 8 VGGs with V1 (vgg16's
        // IMAGENET1K_FEATURES, a feature extractor without ImageNet's classes, is left out);
        // MobileNets: mobilenet_v2 and mobilenet_v3_large with V1 and V2, mobilenet_v3_small with V1: 5;
        // EfficientNets: V1 for b0 to b7 and v2 s, m, l, and V2 for b1: 12; RegNets: V1 and V2 for
        // the 14 but regnet_y_128gf, and SWAG's end-to-end and linear weights for y_16gf, y_32gf, y_128gf: 34;
        // DenseNets: V1 for 121, 161, 169 and 201: 4; ConvNeXts: V1 for tiny, small, base, large: 4;
        // Inception V3: V1: 1.
        XCTAssertEqual(TorchvisionWeights.all.count, 17 + 8 + 5 + 12 + 34 + 4 + 4 + 1)
        XCTAssertEqual(Set(TorchvisionWeights.all.map(\.name)).count, TorchvisionWeights.all.count)
        XCTAssertEqual(Set(TorchvisionWeights.all.map(\.fileName)).count, TorchvisionWeights.all.count)
        let architectures = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                             "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
                             "wide_resnet50_2", "wide_resnet101_2",
                             "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
                             "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]
                             + (0...7).map { "efficientnet_b\($0)" } + ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"]
                             + ["y_400mf", "y_800mf", "y_1_6gf", "y_3_2gf", "y_8gf", "y_16gf", "y_32gf", "y_128gf",
                                "x_400mf", "x_800mf", "x_1_6gf", "x_3_2gf", "x_8gf", "x_16gf", "x_32gf"].map { "regnet_" + $0 }
                             + ["densenet121", "densenet161", "densenet169", "densenet201"]
                             + ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large", "inception_v3"]
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

    func testMobileNetV2DefaultIsV2At232AndV1At256() throws {
        let v2 = try TorchvisionWeights.named("mobilenet_v2")
        XCTAssertEqual(v2.version, "IMAGENET1K_V2")
        XCTAssertEqual(v2.enumName, "MobileNet_V2_Weights")
        XCTAssertEqual(v2.fileName, "mobilenet_v2-7ebf99e0.pth")
        XCTAssertEqual(v2.url, "https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth")
        XCTAssertEqual(v2.sha256Prefix, "7ebf99e0")
        XCTAssertEqual(v2.resize, 232)
        XCTAssertEqual(v2.crop, 224)
        XCTAssertEqual(v2.interpolation, .bilinear)
        XCTAssertTrue(v2.isDefault)
        XCTAssertEqual(try TorchvisionWeights.named("mobilenet_v2:DEFAULT"), v2)
        XCTAssertEqual(try TorchvisionWeights.named("mobilenet_v2:IMAGENET1K_V2"), v2)
        XCTAssertEqual(try TorchvisionWeights.named("MobileNet_V2_Weights.IMAGENET1K_V2"), v2)
        let v1 = try TorchvisionWeights.named("mobilenet_v2:IMAGENET1K_V1")
        XCTAssertEqual(v1.fileName, "mobilenet_v2-b0353104.pth")
        XCTAssertEqual(v1.resize, 256)
        XCTAssertEqual(v1.crop, 224)
        XCTAssertEqual(v1.interpolation, .bilinear)
        XCTAssertFalse(v1.isDefault)
    }

    func testMobileNetV3LargeDefaultIsV2AndSmallHasOnlyV1() throws {
        let large = try TorchvisionWeights.named("mobilenet_v3_large")
        XCTAssertEqual(large.version, "IMAGENET1K_V2")
        XCTAssertEqual(large.enumName, "MobileNet_V3_Large_Weights")
        XCTAssertEqual(large.fileName, "mobilenet_v3_large-5c1a4163.pth")
        XCTAssertEqual(large.resize, 232)
        XCTAssertEqual(large.crop, 224)
        XCTAssertEqual(large.interpolation, .bilinear)
        XCTAssertEqual(try TorchvisionWeights.named("MobileNet_V3_Large_Weights.DEFAULT"), large)
        let largeV1 = try TorchvisionWeights.named("mobilenet_v3_large:IMAGENET1K_V1")
        XCTAssertEqual(largeV1.fileName, "mobilenet_v3_large-8738ca79.pth")
        XCTAssertEqual(largeV1.resize, 256)
        XCTAssertFalse(largeV1.isDefault)

        let small = try TorchvisionWeights.named("mobilenet_v3_small")
        XCTAssertEqual(small.version, "IMAGENET1K_V1")
        XCTAssertEqual(small.enumName, "MobileNet_V3_Small_Weights")
        XCTAssertEqual(small.fileName, "mobilenet_v3_small-047dcff4.pth")
        XCTAssertEqual(small.sha256Prefix, "047dcff4")
        XCTAssertEqual(small.resize, 256)
        XCTAssertEqual(small.crop, 224)
        XCTAssertEqual(small.interpolation, .bilinear)
        XCTAssertTrue(small.isDefault)
        XCTAssertEqual(TorchvisionWeights.all.filter { $0.architecture == "mobilenet_v3_small" }, [small])
    }

    func testHashesURLsAndSizesLookRight() {
        for w in TorchvisionWeights.all {
            XCTAssertTrue(w.url.hasPrefix("https://download.pytorch.org/models/"), w.url)
            XCTAssertTrue(w.url.hasSuffix("/" + w.fileName), w.url)
            // efficientnet_b0_rwightman-7f5810bc.pth: the ports name their author.
            XCTAssertTrue(w.fileName.hasPrefix(w.architecture + "-") || w.fileName.hasPrefix(w.architecture + "_"), w.fileName)
            XCTAssertTrue(w.fileName.hasSuffix("-" + w.sha256Prefix + ".pth"), w.fileName)
            XCTAssertGreaterThanOrEqual(w.sha256Prefix.count, 8, w.fileName)
            XCTAssertTrue(w.sha256Prefix.allSatisfy { "0123456789abcdef".contains($0) }, w.sha256Prefix)
            XCTAssertEqual(w.mean == [0.5, 0.5, 0.5], w.architecture == "efficientnet_v2_l", w.name)
            if w.architecture.hasPrefix("efficientnet") {
                // Each at its own size; the V1 ports bicubic (and v2_l), the rest bilinear.
                XCTAssertTrue((224...600).contains(w.crop) && (w.crop...(w.crop + 32)).contains(w.resize), w.name)
                XCTAssertEqual(w.interpolation == .bicubic, w.fileName.contains("_rwightman") || w.fileName.contains("_lukemelas")
                               || w.architecture == "efficientnet_v2_l", w.name)
                XCTAssertTrue((15.0...460.0).contains(w.fileSizeMB ?? 0), "\(w.name): \(String(describing: w.fileSizeMB))")
                continue
            }
            if w.architecture.hasPrefix("convnext") {
                // Bilinear, at 236/224 (tiny), 230/224 (small), 232/224 (base, large).
                XCTAssertEqual(w.interpolation, .bilinear, w.name)
                XCTAssertEqual(w.crop, 224, w.name)
                XCTAssertTrue([230, 232, 236].contains(w.resize), w.name)
                XCTAssertTrue((100.0...800.0).contains(w.fileSizeMB ?? 0), "\(w.name): \(String(describing: w.fileSizeMB))")
                continue
            }
            if w.architecture == "inception_v3" {
                // Google's weights, evaluated at 342 then 299, bilinear.
                XCTAssertEqual([w.resize, w.crop], [342, 299], w.name)
                XCTAssertEqual(w.interpolation, .bilinear, w.name)
                XCTAssertEqual(w.fileName, "inception_v3_google-0cc3c7bd.pth")
                continue
            }
            if w.architecture.hasPrefix("regnet") {
                // V1 at 256/224, V2 at 232/224, bilinear; SWAG's bicubic, end-to-end at 384, linear at 224.
                let swag = w.version.contains("SWAG")
                XCTAssertEqual(w.interpolation == .bicubic, swag, w.name)
                XCTAssertEqual(w.crop, w.version.contains("SWAG_E2E") ? 384 : 224, w.name)
                XCTAssertEqual(w.resize, swag ? w.crop : w.version == "IMAGENET1K_V2" ? 232 : 256, w.name)
                XCTAssertTrue((15.0...2500.0).contains(w.fileSizeMB ?? 0), "\(w.name): \(String(describing: w.fileSizeMB))")
                continue
            }
            XCTAssertEqual(w.crop, 224, w.name)
            XCTAssertTrue([232, 256].contains(w.resize), w.name)
            XCTAssertEqual(w.interpolation, .bilinear, w.name)
            let sizes: ClosedRange<Double> = w.architecture.hasPrefix("mobilenet") ? 5.0...30.0
                : w.architecture.hasPrefix("densenet") ? 25.0...120.0 : 40.0...600.0
            XCTAssertTrue(sizes.contains(w.fileSizeMB ?? 0), "\(w.name): \(String(describing: w.fileSizeMB))")
            if w.architecture.hasPrefix("vgg") || w.architecture.hasPrefix("densenet") {
                XCTAssertEqual(w.version, "IMAGENET1K_V1"); XCTAssertEqual(w.resize, 256)
            }
            if w.architecture.hasPrefix("mobilenet") {
                // torchvision's V1 recipe evaluates at 256 then 224, its V2 ("new training recipe") at 232.
                XCTAssertTrue(["IMAGENET1K_V1", "IMAGENET1K_V2"].contains(w.version), w.name)
                XCTAssertEqual(w.resize, w.version == "IMAGENET1K_V2" ? 232 : 256, w.name)
            }
        }
    }

    func testUnknownNamesListTheKnownOnes() {
        for bad in ["resnet99", "resnet50:IMAGENET1K_V3", "ResNet50_Weights.V9", "vgg16:IMAGENET1K_FEATURES", "alexnet", "",
                    "mobilenet", "mobilenet_v3", "mobilenet_v3_small:IMAGENET1K_V2", "MobileNet_V3_Weights.IMAGENET1K_V1"] {
            XCTAssertThrowsError(try TorchvisionWeights.named(bad), bad) { error in
                guard case let HubError.unknownWeights(name, known) = error else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(name, bad)
                XCTAssertTrue(known.contains("resnet34"))
                XCTAssertTrue(known.contains("resnet50:IMAGENET1K_V2"))
                XCTAssertTrue(known.contains("wide_resnet101_2:IMAGENET1K_V1"))
                XCTAssertEqual(known.count, 10 + 17 + 8 + 8 + 3 + 5 + 11 + 12 + 15 + 34 + 4 + 4 + 4 + 4 + 1 + 1)
                XCTAssertTrue(known.contains("densenet161:IMAGENET1K_V1"))
                XCTAssertTrue(known.contains("vgg16_bn:IMAGENET1K_V1"))
                XCTAssertTrue(known.contains("mobilenet_v2"))
                XCTAssertTrue(known.contains("mobilenet_v3_large:IMAGENET1K_V2"))
                XCTAssertTrue(known.contains("mobilenet_v3_small:IMAGENET1K_V1"))
                XCTAssertTrue("\(error)".contains("resnext101_64x4d:IMAGENET1K_V1"), "\(error)")
            }
        }
    }

    /// EfficientNet's weights: each at its own eval size, b0's V1 bicubic at 256 / 224, b1's V2
    /// bilinear at 255 / 240 (the default; V1 is bicubic), v2_l's with mean and std 0.5.
    func testEfficientNetWeightsCarryTheirTransforms() throws {
        let b0 = try TorchvisionWeights.named("efficientnet_b0")
        XCTAssertEqual(b0.fileName, "efficientnet_b0_rwightman-7f5810bc.pth")
        XCTAssertEqual([b0.resize, b0.crop], [256, 224])
        XCTAssertEqual(b0.interpolation, .bicubic)
        XCTAssertEqual(b0.mean, [0.485, 0.456, 0.406])
        let b1 = try TorchvisionWeights.named("efficientnet_b1:IMAGENET1K_V2")
        XCTAssertEqual([b1.resize, b1.crop], [255, 240])
        XCTAssertEqual(b1.interpolation, .bilinear)
        XCTAssertTrue(b1.isDefault)
        XCTAssertEqual(try TorchvisionWeights.named("efficientnet_b1:IMAGENET1K_V1").interpolation, .bicubic)
        let l = try TorchvisionWeights.named("EfficientNet_V2_L_Weights.IMAGENET1K_V1")
        XCTAssertEqual([l.resize, l.crop], [480, 480])
        XCTAssertEqual(l.mean, [0.5, 0.5, 0.5])
        XCTAssertEqual(l.std, [0.5, 0.5, 0.5])
    }
}
