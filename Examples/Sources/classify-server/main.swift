// A web service that classifies uploaded images with Graft's library and Hummingbird:
//
//   swift run classify-server [WEIGHTS.pth [CLASS_INDICES.json]]     (PORT=8081 by default)
//   curl --data-binary @photo.jpg http://127.0.0.1:8081/classify
//
// With no arguments it serves a tiny VGG of the repository's fixtures. (`graft serve` is the full
// server: batching, limits, metrics, draining.)
import Foundation
import Graft
import Hummingbird

let arguments = Array(CommandLine.arguments.dropFirst())
let fixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/vgg/predict")
let classifier = try Classifier(weights: arguments.first ?? fixtures.appendingPathComponent("tiny_vgg11_bn.pth").path,
                                classIndices: arguments.count > 1 ? arguments[1] : fixtures.appendingPathComponent("class_indices.json").path)

struct Ranked: Encodable {
    let name: String
    let probability: Float
}

struct Answer: ResponseEncodable {
    let className: String
    let probability: Float
    let top: [Ranked]
}

let router = Router()
router.get("/") { _, _ in "POST a JPEG or PNG to /classify (\(classifier.architecture), \(classifier.classNames.count) classes)\n" }
router.post("/classify") { request, _ -> Answer in
    let body = try await request.body.collect(upTo: 20 << 20)
    do {
        let c = try classifier.classify(imageData: Array(buffer: body))   // one image at a time; graft serve batches
        return Answer(className: c.className, probability: c.probability,
                      top: c.top(3).map { Ranked(name: $0.name, probability: $0.probability) })
    } catch {
        throw HTTPError(.badRequest, message: "\(error)")
    }
}

let port = Int(ProcessInfo.processInfo.environment["PORT"] ?? "") ?? 8081
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
