import Graft

var run = FineTuneConfiguration(data: "flower_data", classes: 5)
run.weights = "resnet18"          // or a .pth file, or nil for random weights
run.outputFolder = "flowers-model"
run.epochs = 5

let result = try fineTune(run) { event in
    switch event {
    case .step(let epoch, let step, let steps, let loss) where step % 20 == 0:
        print("epoch \(epoch) step \(step)/\(steps) loss \(loss)")
    case .epoch(let e):
        print("epoch \(e.epoch): val accuracy \(e.validationAccuracy)")
    case .warning(let text):
        print("warning:", text)
    default:
        break
    }
}
print("best", result.bestValidationAccuracy, "in", result.weightsPath)
