import ArgumentParser
import Checkpoint
import Models

/// How every command reads a checkpoint: `--allow-objects` and `--max-memory`.
public struct ReadOptions: ParsableArguments {
    @Flag(help: ArgumentHelp(LoadOptions.allowObjectsHelp))
    public var allowObjects = false

    @Option(help: ArgumentHelp(ReadLimits.maxMemoryHelp, discussion: ReadLimits.maxMemoryDiscussion, valueName: "GiB"),
            transform: ReadLimits.parseMaxMemory)
    public var maxMemory: Int?

    public init() {}

    public var limits: ReadLimits { ReadLimits(maxMemory: maxMemory) }
    public var loadOptions: LoadOptions { .torchvisionModel(allowObjects: allowObjects, limits: limits) }
}
