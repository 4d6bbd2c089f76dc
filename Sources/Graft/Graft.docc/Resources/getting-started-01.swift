import Graft

let classifier = try Classifier(weights: "resnet18")
print(classifier.architecture, classifier.classNames.count, "classes")   // resnet18 1000 classes
