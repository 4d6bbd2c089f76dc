import Inference

/// A labelled folder scored as scikit-learn scores it (`classification_report`,
/// `confusion_matrix`): what the `evaluate` command prints.
public struct EvaluationReport: Sendable {
    /// One class's scores.
    public struct ClassScores: Sendable, Equatable {
        /// The class's name.
        public let name: String
        /// Of the images called this class, the fraction that are.
        public let precision: Double
        /// Of the images of this class, the fraction called so.
        public let recall: Double
        /// The harmonic mean of precision and recall.
        public let f1: Double
        /// Images of this class in the folder.
        public let support: Int
    }

    /// The class names, in the model's index order.
    public let classNames: [String]
    /// The fraction of images whose most probable class is their folder's.
    public let accuracy: Double
    /// The fraction whose folder's class is among the five most probable; nil with five classes or fewer.
    public let top5Accuracy: Double?
    /// Per class, in index order.
    public let perClass: [ClassScores]
    /// `confusion[true][predicted]`: images of class `true` the model called `predicted`.
    public let confusion: [[Int]]
    /// The images scored.
    public let imageCount: Int
    /// Images that could not be read, with the reason (left out of the scores).
    public let unreadable: [(path: String, reason: String)]
    /// What the run noted (unreadable files, folders that are not classes).
    public let notes: [String]
    /// The report as `evaluate` prints it.
    public let text: String
    /// The report as `evaluate --json` prints it.
    public let json: String

    init(_ e: Evaluation, notes: [String]) {
        let r = e.report
        classNames = r.classNames
        accuracy = r.accuracy
        top5Accuracy = r.top5Accuracy
        perClass = zip(r.classNames, r.perClass).map {
            ClassScores(name: $0, precision: $1.precision, recall: $1.recall, f1: $1.f1, support: $1.support)
        }
        confusion = r.confusion
        imageCount = r.count
        unreadable = e.unreadable
        self.notes = notes
        text = e.text()
        json = e.json()
    }
}
