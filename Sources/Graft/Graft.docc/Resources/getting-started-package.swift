// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Flowers",
    dependencies: [
        .package(url: "https://github.com/your-org/graft", from: "0.9.0"),
    ],
    targets: [
        .executableTarget(name: "flowers", dependencies: [
            .product(name: "Graft", package: "graft"),
        ]),
    ]
)
