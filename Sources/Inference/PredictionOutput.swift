import Foundation
import Imaging

/// The output formats of predict and batch_predict.
public enum PredictionOutput {
    /// predict.py's lines: `class: <name padded to 10>   prob: <{:.3}>` per class in index order
    /// (or the top K by probability), then its top-1 line `class: <name>   prob: <{:.3}>`.
    /// Text for a terminal: names as `TerminalText.escaped` shows them.
    public static func text(_ p: Prediction, names exact: [String], topK: Int?) -> String {
        let names = exact.map(TerminalText.escaped)
        let order = topK.map { p.top($0) } ?? Array(p.probs.indices)
        var lines = order.map { "class: \(PythonFormat.leftPadded(names[$0], 10))   prob: \(PythonFormat.general3(Double(p.probs[$0])))" }
        lines.append("class: \(names[p.index])   prob: \(PythonFormat.general3(Double(p.prob)))")
        return lines.joined(separator: "\n")
    }

    /// `{"image": ..., "class": ..., "index": ..., "prob": ..., "probs": [...]}` on one line.
    public static func json(_ p: Prediction, names: [String]) -> String {
        "{\"image\": \(PythonFormat.jsonString(p.image, asciiOnly: false)), \"class\": \(PythonFormat.jsonString(names[p.index], asciiOnly: false)), "
            + "\"index\": \(p.index), \"prob\": \(PythonFormat.jsonNumber(p.prob)), "
            + "\"probs\": [\(p.probs.map(PythonFormat.jsonNumber).joined(separator: ", "))]}"
    }

    /// batch_predict.py's line: `image: <path>  class: <name>  prob: <{:.3}>`, the path and
    /// name as `TerminalText.escaped` shows them (JSON and CSV keep them exact).
    public static func batchLine(_ p: Prediction, names: [String]) -> String {
        "image: \(TerminalText.escaped(p.image))  class: \(TerminalText.escaped(names[p.index]))  prob: \(PythonFormat.general3(Double(p.prob)))"
    }

    public static let csvHeader = "image,class,index,prob"

    public static func csvRow(_ p: Prediction, names: [String]) -> String {
        [csvField(p.image), csvField(names[p.index]), String(p.index), PythonFormat.jsonNumber(p.prob)].joined(separator: ",")
    }

    /// RFC 4180: quoted when it holds a comma, quote or line break.
    static func csvField(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }
}
