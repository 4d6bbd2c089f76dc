// swift-tools-version:6.0
import PackageDescription

// Graft as a library: this package depends on the checkout it sits in, as another project would
// depend on Graft by URL (.package(url: "https://.../graft", from: "0.9.0")). `make test` builds
// both executables and runs classify (make example-check).
let package = Package(
    name: "GraftExample",
    dependencies: [
        .package(name: "Graft", path: ".."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
    ],
    targets: [
        // predict's job in 30 lines.
        .executableTarget(name: "classify", dependencies: [
            .product(name: "Graft", package: "Graft"),
        ]),
        // The DocC tutorial's code (Sources/Graft/Graft.docc/Resources, linked here), built so
        // that the tutorial cannot go stale: its last step of each section.
        .executableTarget(name: "tutorial-classify", dependencies: [.product(name: "Graft", package: "Graft")]),
        .executableTarget(name: "tutorial-finetune", dependencies: [.product(name: "Graft", package: "Graft")]),
        // A web service that classifies uploads, in 45 lines.
        .executableTarget(name: "classify-server", dependencies: [
            .product(name: "Graft", package: "Graft"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
