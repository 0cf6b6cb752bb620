// swift-tools-version: 6.1
import PackageDescription

// Numeric kernels are written against pointers and SIMD types; the Swift 5 language mode keeps
// closures over raw pointers (used by the thread pool) free of Sendable ceremony.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v5),
    .enableUpcomingFeature("ExistentialAny"),
]

// The AVX-512 kernels are compiled for AVX-512 F/BW/VL/BF16/VNNI in a target of their own and
// only called after `CPUKernels` has checked the CPU, so the rest of the engine stays baseline
// x86-64 and runs anywhere. Other architectures compile the target empty.
#if arch(x86_64)
let avx512Settings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(
        ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512bf16", "-mavx512vnni", "-mf16c", "-mfma"]
            .flatMap { ["-Xcc", $0] })
]
// The same arrangement for the AVX2/FMA/F16C kernels (the `avx2` level: Haswell, Zen 1 and
// later, the usual CPU-only host).
let avx2Settings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-mavx2", "-mfma", "-mf16c"].flatMap { ["-Xcc", $0] })
]
#else
let avx512Settings: [SwiftSetting] = swiftSettings
let avx2Settings: [SwiftSetting] = swiftSettings
#endif

let package = Package(
    name: "swift-sd",
    products: [
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Samplers", targets: ["Samplers"]),
        .library(name: "Diffusion", targets: ["Diffusion"]),
        .library(name: "Server", targets: ["Server"]),
        .executable(name: "sd", targets: ["sd"]),
        .executable(name: "sampler-lab", targets: ["SamplerLab"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // Already resolved through Hummingbird; named so the server can order its graceful shutdown.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // `GET /metrics`; its swift-metrics and swift-atomics are already in the graph (Hummingbird, NIO).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Cluster mode (`sd serve --database-url`): the shared job queue lives in PostgreSQL.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        // libwebpmux's pkg-config entry requires libwebp's: both libraries, one name.
        .systemLibrary(name: "CWebP", pkgConfig: "libwebpmux", providers: [.apt(["libwebp-dev"])]),
        .target(name: "CSIMD"),
        .target(name: "SIMDMath", swiftSettings: swiftSettings),
        .target(name: "TensorKernels", dependencies: ["CSIMD", "SIMDMath"], swiftSettings: avx512Settings),
        .target(name: "TensorKernelsAVX2", dependencies: ["CSIMD", "SIMDMath"], swiftSettings: avx2Settings),
        .target(
            name: "Tensor", dependencies: ["CBLAS", "CSIMD", "SIMDMath", "TensorKernels", "TensorKernelsAVX2"],
            swiftSettings: swiftSettings),
        .target(name: "Samplers", dependencies: ["Tensor"], swiftSettings: swiftSettings),
        .target(name: "Diffusion", dependencies: ["Tensor", "Samplers", "CPNG", "CTurboJPEG", "CWebP"], swiftSettings: swiftSettings),
        .target(
            name: "Server",
            dependencies: [
                "Diffusion",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            resources: [.copy("Web")],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "sd",
            dependencies: ["Server", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "SamplerLab",
            dependencies: ["Samplers", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "TensorBenchmark", dependencies: ["Tensor"], path: "Benchmarks/TensorBenchmark",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "PipelineBenchmark",
            dependencies: ["Diffusion", "Samplers", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/PipelineBenchmark", swiftSettings: swiftSettings),
        .target(name: "TestSupport", dependencies: ["Tensor"], path: "Tests/TestSupport", swiftSettings: swiftSettings),
        .testTarget(
            name: "TensorTests", dependencies: ["Tensor", "SIMDMath", "TestSupport"], exclude: ["Reference/README.md"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(
            name: "SamplersTests", dependencies: ["Samplers", "Tensor", "TestSupport"], resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "DiffusionTests", dependencies: ["Diffusion", "Samplers", "Tensor", "TestSupport"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(
            name: "ServerTests",
            dependencies: ["Server", "TestSupport", .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings),
    ]
)
