import Checkpoint
import Foundation
import Inference

/// `evaluate`'s whole run, in order: every output path checked, then the model loaded, every
/// image scored, and the page written. A path that cannot be written fails before any image is
/// read (the scoring can take long).
public enum EvaluationRun {
    /// - Parameters:
    ///   - report: `--report`'s file, or nil.
    ///   - weights: how the page names the weights.
    ///   - makePredictor: loads the model (called only after the output paths pass).
    ///   - warn: hears the scan's warnings and each unreadable image.
    public static func run(dir: String, report: String?, weights: String, batchSize: Int,
                           makePredictor: () throws -> Predictor, warn: @escaping (String) -> Void) throws -> Evaluation {
        try OutputPath.check(report.map { [(path: $0, option: "--report")] } ?? [], command: "evaluate")
        let predictor = try makePredictor()
        let result = try Evaluation.run(dir: dir, predictor: predictor, batchSize: batchSize, warn: warn)
        if let file = report {
            let page = EvaluationPage.html(folder: dir, weights: weights, evaluation: result,
                                           thumbnail: ReportPage.thumbnail)
            try TemporaryFile.write(Data(page.utf8), to: file)
        }
        return result
    }
}
