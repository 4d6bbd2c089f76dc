import Graft

let classifier = try Classifier(weights: "resnet18")
print(classifier.architecture, classifier.classNames.count, "classes")   // resnet18 1000 classes

let answer = try classifier.classify(file: "tulip.jpg")
print(answer.className, answer.probability)
for ranked in answer.top(3) {
    print(ranked.index, ranked.name, ranked.probability)
}
