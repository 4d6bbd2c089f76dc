// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Graft",
    products: [
        // Graft as a Swift library: classify, evaluate, fine-tune, export (Sources/Graft; DocC in
        // Sources/Graft/Graft.docc, `make docs`). The other targets are its internals.
        .library(name: "Graft", targets: ["Graft"]),
        .executable(name: "inspect_weights", targets: ["inspect_weights"]),
        .executable(name: "predict", targets: ["predict"]),
        .executable(name: "batch_predict", targets: ["batch_predict"]),
        .executable(name: "finetune", targets: ["finetune"]),
        .executable(name: "evaluate", targets: ["evaluate"]),
        .executable(name: "graft", targets: ["graft"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // graft serve: HTTP (Hummingbird 2), start and graceful shutdown, Prometheus metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        // `make docs`: the Graft library's DocC documentation.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // System libraries from Debian's -dev packages (see Makefile `deps`).
        .systemLibrary(name: "CZip", path: "Sources/CZip", pkgConfig: "libzip",
                       providers: [.apt(["libzip-dev"])]),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL",
                       providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),

        .target(name: "Checkpoint", dependencies: ["CZip", .product(name: "Crypto", package: "swift-crypto")]),
        // Graft's Winograd transforms in C: AVX2 functions chosen at run time (baseline x86-64
        // elsewhere), no floating-point contraction, so the same bits on every CPU.
        .target(name: "CWinograd", path: "Sources/CWinograd"),
        .target(name: "Engine", dependencies: ["CDNNL", "CWinograd", "Random"]),
        // The processes of one job under mpirun (Open MPI): rank, size, the collectives Graft
        // uses, aborting the whole job; a single process without MPI otherwise.
        .target(name: "Cluster", dependencies: ["CMPI"]),
        // Graft's one seeded generator (SplitMix64): initialisation, augmentation, splits, shuffles.
        .target(name: "Random"),
        .target(name: "Models", dependencies: ["Engine", "Checkpoint", "Random"]),
        // Pillow's JPEG decoding over the libjpeg API (libjpeg62-turbo-dev): a C shim, because
        // libjpeg reports errors with longjmp.
        .target(name: "CJPEG", path: "Sources/CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        // libpng's full API (16-bit samples with alpha, as stored) and zlib: a C shim, because
        // libpng reports errors with longjmp.
        .target(name: "CPNGRead", path: "Sources/CPNGRead",
                linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("z")]),
        .target(name: "Imaging", dependencies: ["CTurboJPEG", "CJPEG", "CPNG", "CPNGRead", "Random"]),
        .target(name: "Inference", dependencies: ["Cluster", "Models", "Imaging", "Checkpoint", "Engine"]),
        // torchvision's pretrained weights by name: the registry, torch.hub's cache, downloads.
        .target(name: "Hub", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // TensorBoard's event files: TFRecord framing, masked CRC-32C, Event protobufs (the
        // generated Swift is committed; see Sources/TensorBoard/Proto).
        .target(name: "TensorBoard", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["Proto/tensorboard_event.proto"]),
        // ONNX export of a model graph with its weights (the generated Swift of a trimmed
        // onnx.proto is committed; see Sources/ONNX/Proto).
        .target(name: "ONNX", dependencies: ["Models", "Checkpoint", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["Proto/onnx.proto"]),
        // The HTML pages' shared parts (finetune's report.html, evaluate --report) and evaluate's
        // run: no training code, so that evaluate links none.
        .target(name: "HTMLReport", dependencies: ["Inference", "Imaging", "Checkpoint"]),
        .target(name: "Training", dependencies: ["Inference", "HTMLReport", "Models", "Imaging", "Checkpoint", "Engine", "Random", "Cluster"]),

        .executableTarget(name: "graft_bench", dependencies: ["Models", "Engine", "Checkpoint", "Random"],
                          path: "Benchmarks/graft_bench"),

        // The commit `--version` names: a weak default ("", a plain `swift build`) that the
        // build_commit.c `make` writes beside it (gitignored) replaces at link time.
        .target(name: "CBuildInfo"),
        // What every command shares (options, exit codes, --version): no training code, so that
        // the inference commands link neither Training nor TensorBoard.
        .target(name: "CLISupport", dependencies: [
            "Cluster", "Hub", "Inference", "Engine", "Models", "Imaging", "Checkpoint", "CBuildInfo",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The commands themselves, one target per group, each used by its own executables and
        // by `graft`: inference (predict, batch_predict, evaluate, inspect_weights), export
        // (ONNX, graft only), finetune (with Training and TensorBoard).
        .target(name: "InferenceCommands", dependencies: [
            "CLISupport", "HTMLReport", "Inference", "Cluster", "Imaging", "Models", "Checkpoint",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "ExportCommand", dependencies: [
            "CLISupport", "ONNX", "Inference", "Hub", "Imaging", "Models", "Checkpoint",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "FinetuneCommands", dependencies: [
            "CLISupport", "Training", "TensorBoard", "Cluster", "Engine", "Models", "Imaging",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // multipart/form-data bodies (graft serve's uploads): strict, fuzzed (make fuzz).
        .target(name: "Multipart"),
        // graft serve: the model behind HTTP with dynamic batching (graft only).
        .target(name: "ServeCommand", dependencies: [
            "CLISupport", "Inference", "Imaging", "Multipart",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // The library product's public API, over the same code the commands run.
        .target(name: "Graft", dependencies: ["CLISupport", "ExportCommand", "Checkpoint", "Hub", "Imaging", "Inference", "Models", "Training"]),
        .executableTarget(name: "inspect_weights", dependencies: ["InferenceCommands"]),
        .executableTarget(name: "predict", dependencies: ["InferenceCommands", "Imaging"]),
        .executableTarget(name: "finetune", dependencies: ["FinetuneCommands", "Imaging"]),
        .executableTarget(name: "graft", dependencies: [
            "InferenceCommands", "ExportCommand", "FinetuneCommands", "ServeCommand", "CLISupport", "Imaging",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "graft_train_bench", dependencies: ["Training", "Models"],
                          path: "Benchmarks/graft_train_bench"),
        .executableTarget(name: "demo_data", dependencies: [
            "CLISupport", "Training", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "batch_predict", dependencies: ["InferenceCommands", "Imaging"]),
        .executableTarget(name: "evaluate", dependencies: ["InferenceCommands", "Imaging"]),

        // Fuzzing (`make fuzz`): the harnesses are a library, so that tests replay saved
        // findings through the same code; each executable is a libFuzzer target when built
        // with -DFUZZING and -sanitize=fuzzer, and replays files when built plainly.
        .target(name: "FuzzHarness", dependencies: ["Checkpoint", "Models", "Imaging", "Training", "Multipart"],
                path: "Fuzz/FuzzHarness"),
        .executableTarget(name: "FuzzCheckpoint", dependencies: ["FuzzHarness"], path: "Fuzz/FuzzCheckpoint"),
        .executableTarget(name: "FuzzJPEG", dependencies: ["FuzzHarness"], path: "Fuzz/FuzzJPEG"),
        .executableTarget(name: "FuzzPNG", dependencies: ["FuzzHarness"], path: "Fuzz/FuzzPNG"),
        .executableTarget(name: "FuzzImageFolder", dependencies: ["FuzzHarness"], path: "Fuzz/FuzzImageFolder"),
        .executableTarget(name: "FuzzMultipart", dependencies: ["FuzzHarness"], path: "Fuzz/FuzzMultipart"),

        // What several test targets share: fixture paths, error measures, skips by CPU capability.
        .target(name: "TestSupport", dependencies: ["Engine", "Random"], path: "Tests/TestSupport"),
        .testTarget(name: "CLISupportTests", dependencies: [
            "CLISupport", "FinetuneCommands", "InferenceCommands", "ExportCommand", "HTMLReport", "ONNX",
            "Training", "Inference", "Hub", "TensorBoard", "Checkpoint", "Imaging", "Engine", "Models", "TestSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], path: "Tests/CLISupportTests"),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "TestSupport"],
                    path: "Tests/CheckpointTests"),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Inference", "HTMLReport", "Models", "Engine", "Cluster", "TestSupport"],
                    path: "Tests/TrainingTests"),
        .testTarget(name: "HubTests", dependencies: ["Hub", "TestSupport", .product(name: "Crypto", package: "swift-crypto")], path: "Tests/HubTests",
                    exclude: ["serve.py"]),  // the loopback HTTP server the download tests start
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard", "TestSupport"],
                    path: "Tests/TensorBoardTests"),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Imaging", "Models", "Engine", "TestSupport"],
                    path: "Tests/InferenceTests"),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "TestSupport", "Random",
                                                         .product(name: "Crypto", package: "swift-crypto")],
                    path: "Tests/ImagingTests"),
        // ClusterTests run cluster_check under mpirun (Open MPI's openmpi-bin).
        .executableTarget(name: "cluster_check", dependencies: ["Cluster"], path: "Tests/ClusterCheck"),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "TestSupport"],
                    path: "Tests/ClusterTests"),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "TestSupport", "Random"],
                    path: "Tests/EngineTests"),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzHarness", "TestSupport"],
                    path: "Tests/FuzzRegressionTests"),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "Models", "Checkpoint", "Imaging", "TestSupport",
                                                  "ExportCommand", "CLISupport", "Inference",
                                                  .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                                                  .product(name: "ArgumentParser", package: "swift-argument-parser")],
                    path: "Tests/ONNXTests"),
        .testTarget(name: "ServeTests", dependencies: [
            "ServeCommand", "Multipart", "Inference", "Imaging", "TestSupport",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ], path: "Tests/ServeTests"),
        .testTarget(name: "GraftTests", dependencies: ["Graft", "CLISupport", "ExportCommand", "Inference", "Imaging", "TestSupport"],
                    path: "Tests/GraftTests"),
        .testTarget(name: "ResNetTests", dependencies: ["Models", "Engine", "Checkpoint", "TestSupport", "Random"],
                    path: "Tests/ResNetTests"),
    ],
    swiftLanguageModes: [.v6]
)
