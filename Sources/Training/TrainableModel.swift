import Checkpoint
import Engine

/// What the trainer needs of a model: its parameters (optimizers update them in place), a
/// training step that fills their gradients, evaluation logits and the state dict to save.
public protocol TrainableModel: AnyObject {
    var parameters: [Parameter] { get }
    var numClasses: Int { get }
    /// Forward in train mode, cross-entropy, backward: gradients of trainable parameters.
    func trainStep(images: UnsafeBufferPointer<Float>, labels: [Int], batch: Int, height: Int, width: Int,
                   labelSmoothing: Float) throws -> (loss: Float, logits: [Float])
    func evalLogits(images: UnsafeBufferPointer<Float>, batch: Int, height: Int, width: Int) throws -> [Float]
    /// torchvision-keyed, ready for `torch.load` and `load_state_dict(strict=True)`.
    func stateDict() -> StateDict
}

/// How the new classifier relates to the pretrained one (`--head`).
public enum HeadMode: String, CaseIterable, Sendable, Codable {
    /// `fc` becomes a new Linear(in_features, N), saved as `fc.weight`/`fc.bias`.
    case replace
    /// The pretrained fc stays, frozen, and a new Linear(fc_out, N) follows it: saved as
    /// `fc.0.*` and `fc.1.*`, what `net.fc = nn.Sequential(net.fc, nn.Linear(1000, N))` gives.
    case append
}
