import Checkpoint
import XCTest

/// `LegacyKeyJoin`: the renames of torchvision's DenseNet loader (`_load_state_dict`'s regex
/// `^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$`),
/// and nothing else.
final class LegacyKeyJoinTests: XCTestCase {
    let join = LegacyKeyJoin(parent: "denselayer", modules: ["norm", "relu", "conv"], indices: ["1", "2"],
                             tensors: ["weight", "bias", "running_mean", "running_var"])

    func testRenamesWhatTorchvisionsRegexRenames() {
        let cases: [(String, String?)] = [
            ("features.denseblock1.denselayer1.norm.1.weight", "features.denseblock1.denselayer1.norm1.weight"),
            ("features.denseblock3.denselayer24.conv.2.weight", "features.denseblock3.denselayer24.conv2.weight"),
            ("features.denseblock1.denselayer1.norm.2.running_var", "features.denseblock1.denselayer1.norm2.running_var"),
            ("model.features.denseblock1.denselayer1.relu.1.bias", "model.features.denseblock1.denselayer1.relu1.bias"),
            ("denselayer1.norm.1.running_mean", "denselayer1.norm1.running_mean"),
            ("features.denseblock1.mydenselayer7.conv.1.weight", "features.denseblock1.mydenselayer7.conv1.weight"),
            // Not old keys: already new, another index, tensor or module, no layer number, a transition.
            ("features.denseblock1.denselayer1.norm1.weight", nil),
            ("features.denseblock1.denselayer1.norm.3.weight", nil),
            ("features.denseblock1.denselayer1.norm.1.num_batches_tracked", nil),
            ("features.denseblock1.denselayer1.pool.1.weight", nil),
            ("features.denseblock1.denselayer.norm.1.weight", nil),
            ("features.transition1.norm.1.weight", nil),
            ("features.denseblock1.denselayer1.norm.1.weight.extra", nil),
            ("norm.1.weight", nil), ("", nil), ("...", nil),
        ]
        for (key, want) in cases { XCTAssertEqual(join.renamed(key), want, key) }
    }
}
