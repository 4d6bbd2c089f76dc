// Classifies images with a fine-tuned model through Graft's library, as `predict` does:
//
//   swift run classify [WEIGHTS.pth CLASS_INDICES.json IMAGE...]
//
// With no arguments it loads a tiny VGG of the repository's fixtures (a real PyTorch
// checkpoint) and classifies one of their images.
import Foundation
import Graft

let arguments = Array(CommandLine.arguments.dropFirst())
// Examples/Sources/classify/main.swift -> the repository's Fixtures folder.
let fixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
let weights = arguments.count > 0 ? arguments[0] : fixtures.appendingPathComponent("vgg/predict/tiny_vgg11_bn.pth").path
let classIndices = arguments.count > 1 ? arguments[1] : fixtures.appendingPathComponent("vgg/predict/class_indices.json").path
let images = arguments.count > 2 ? Array(arguments[2...]) : [fixtures.appendingPathComponent("images/src/jpeg_420.jpg").path]

do {
    // The architecture (ResNet, VGG...) is read from the checkpoint's keys; the images are
    // preprocessed as torchvision's eval transform does (Resize(256), CenterCrop(224), Normalize).
    let classifier = try Classifier(weights: weights, classIndices: classIndices)
    var failed = false
    try classifier.classify(files: images, batchSize: 8) { path, result in
        switch result {
        case .success(let c):
            let name = URL(fileURLWithPath: path).lastPathComponent
            print("\(name): \(c.className) (\(String(format: "%.3f", c.probability)))")
        case .failure(let error):
            FileHandle.standardError.write(Data("classify: \(path): \(error)\n".utf8))
            failed = true
        }
    }
    exit(failed ? 1 : 0)
} catch {
    FileHandle.standardError.write(Data("classify: \(error)\n".utf8))
    exit(1)
}
