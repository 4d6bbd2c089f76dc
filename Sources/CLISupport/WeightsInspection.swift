import Checkpoint
import Models

extension WeightsReport {
    /// `inspect_weights`' whole job: reads `file` as `options` allow and reports what is in it,
    /// as text or as one JSON object (with a closing newline either way).
    public static func inspect(_ file: String, json: Bool, options: LoadOptions) throws -> String {
        let ckpt = try Checkpoint(contentsOf: file, options: options)
        let arch = ArchitectureGuess(ckpt.stateDict)
        return json ? WeightsReport.json(ckpt, arch) + "\n" : WeightsReport.text(ckpt, arch)
    }
}
