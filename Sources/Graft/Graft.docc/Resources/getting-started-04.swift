import Graft

var run = FineTuneConfiguration(data: "flower_data", classes: 5)
run.weights = "resnet18"          // or a .pth file, or nil for random weights
run.outputFolder = "flowers-model"
run.epochs = 5
