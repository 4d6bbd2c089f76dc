// swift-tools-version:6.0
import PackageDescription

// Graft as a library: this package depends on the checkout it sits in, as another project would
// depend on Graft by URL (.package(url: "https://.../graft", from: "0.9.0")). `make test` builds
// and runs it (make example-check).
let package = Package(
    name: "GraftExample",
    dependencies: [
        .package(name: "Graft", path: ".."),
    ],
    targets: [
        .executableTarget(name: "classify", dependencies: [
            .product(name: "Inference", package: "Graft"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
