// swift-tools-version: 6.0
import PackageDescription

// Dependencies point one way: CKernels → MoEFormats → MoEKernels / MoETokenizer → MoEStore → MoEModel → MoESynth / MoEQuantize → executables.
let package = Package(
    name: "SwiftMoE",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "moe", targets: ["moe"]),
        .library(name: "MoEModel", targets: ["MoEModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        // `moe serve`: the HTTP server, its metrics, and (tests only) an HTTP client.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.0.0"),
    ],
    targets: [
        // C SIMD kernels: dequantization and dot products, scalar `_generic` reference beside each SIMD one.
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]
        ),
        // The system libzstd (libzstd-dev): compression of the compressed expert tier in MoEStore.
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // The system liburing (liburing-dev) behind a small C API: the expert cache's reads through io_uring (Linux;
        // thread pool elsewhere). A C target rather than a system-library module: see Sources/CUring/include/moe_uring.h.
        .target(name: "CUring", linkerSettings: [.linkedLibrary("uring", .when(platforms: [.linux]))]),
        // File formats only (GGUF, safetensors, configs, tokenizer files); no compute.
        .target(name: "MoEFormats"),
        // Swift API over CKernels: per-type dequantize/dot tables.
        .target(name: "MoEKernels", dependencies: ["CKernels", "MoEFormats", .product(name: "Atomics", package: "swift-atomics")]),
        // Byte-level BPE and SentencePiece tokenizers over a TokenizerSpec: encode, decode.
        .target(name: "MoETokenizer", dependencies: ["MoEFormats"]),
        // A model's reply → reasoning, content and tool calls, per chat format; Foundation only (Docs/CHAT.md).
        .target(name: "ChatParsing"),
        // Weight store: one view of tensors by canonical name, whatever file they came from.
        .target(name: "MoEStore", dependencies: ["CZstd", "CUring", "MoEFormats", "MoEKernels"]),
        // Chat templates: a Jinja2 interpreter as transformers renders chat_template; Foundation only.
        .target(name: "ChatTemplate"),
        // A conversation with a model: its chat template rendered per turn, replies parsed, the prompt cache reused.
        // Continuous batching of completions over Model.forward(batch:): slots, a bounded queue, prefix reuse per slot.
        .target(name: "MoEServe", dependencies: ["MoEModel", "MoEKernels", "MoETokenizer", "MoEFormats"]),
        .target(name: "MoEChat", dependencies: ["MoEFormats", "MoEStore", "MoEModel", "MoEKernels", "MoETokenizer", "ChatTemplate", "ChatParsing"]),
        // `moe serve`: an OpenAI-compatible HTTP layer (Hummingbird) over the BatchScheduler; Prometheus metrics.
        .target(name: "MoEServer", dependencies: ["MoEServe", "MoEChat", "MoEModel", "MoEStore", "ChatParsing", "ChatTemplate",
                                                 .product(name: "Hummingbird", package: "hummingbird"),
                                                 .product(name: "Prometheus", package: "swift-prometheus"),
                                                 .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        // Tokenizer, model description, forward pass, sampling, generation.
        .target(name: "MoEModel", dependencies: ["CKernels", "MoEFormats", "MoEKernels", "MoEStore", "MoETokenizer"]),
        // Synthetic checkpoints for tests: shapes, seeded weights, GGUF / safetensors output.
        .target(name: "MoESynth", dependencies: ["CKernels", "MoEFormats", "MoEKernels", "MoEModel"]),
        // Checkpoint → quantized GGUF: tensor roles and type rules, rounding, calibration statistics.
        .target(name: "MoEQuantize", dependencies: ["CKernels", "MoEFormats", "MoEKernels", "MoEStore", "MoEModel", "MoETokenizer"]),
        .executableTarget(
            name: "moe",
            dependencies: ["MoEModel", "MoEKernels", "MoEStore", "MoETokenizer", "ChatTemplate", "ChatParsing", "MoEChat", "MoEServe", "MoEServer", "ToolSupport",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Tools, outside the libraries' dependency graph.
        .executableTarget(
            name: "moe-bench",
            dependencies: ["MoEModel", "MoEKernels", "MoEStore", "MoEChat", "ChatTemplate", "MemLimit", "ToolSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Tools/moe-bench"
        ),
        // What the tools share: progress lines, Ctrl-C handling, the expert-offloading options.
        .target(name: "ToolSupport", dependencies: ["MoEFormats", "MoEStore", "MoEModel", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                path: "Tools/ToolSupport"),
        // Cache profiling: routing traces, live cache runs, offline policy simulation, memory planning, SVG report.
        .executableTarget(
            name: "moe-profile",
            dependencies: ["MoEModel", "MoEStore", "MoEFormats", "MoEKernels", "ToolSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Histogram", package: "hdrhistogram-swift")],
            path: "Tools/moe-profile"
        ),
        .executableTarget(
            name: "moe-synth",
            dependencies: ["MoESynth", "MoEModel", "ToolSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tools/moe-synth"
        ),
        .executableTarget(
            name: "moe-quantize",
            dependencies: ["MoEQuantize", "MoEFormats", "MoEKernels", "MoEModel", "ChatTemplate", "ToolSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tools/moe-quantize"
        ),
        .testTarget(name: "MoEStoreTests", dependencies: ["MoEStore", "MoEFormats", "TestSupport"]),
        .testTarget(name: "MoEFormatsTests", dependencies: ["MoEFormats", "MoEStore", "TestSupport"]),
        .testTarget(name: "MoEKernelsTests", dependencies: ["MoEKernels", "MoEFormats"], exclude: ["Fixtures/make_fixtures.py", "Fixtures/make_mxfp4_fixture.py"]),
        .testTarget(name: "ChatTemplateTests", dependencies: ["ChatTemplate", "TestSupport"]),
        .testTarget(name: "MoETokenizerTests", dependencies: ["MoETokenizer", "MoEFormats"], exclude: ["Fixtures"]),
        .testTarget(name: "MoEModelTests", dependencies: ["MoEModel", "MoEFormats", "MoEStore", "MoEKernels", "MoEQuantize", "TestSupport"]),
        .testTarget(name: "SynthTests", dependencies: ["MoESynth", "MoEModel", "MoEFormats", "MoEKernels", "MoEStore", "TestSupport", "moe-synth"]),
        // Shared by test targets: reference-data paths, temporary folders, running the built tools.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "MoEQuantizeTests", dependencies: ["MoEQuantize", "MoEFormats", "MoEKernels", "MoEStore", "MoEModel", "MoESynth", "TestSupport", "moe-quantize"]),
        .testTarget(name: "EndToEndTests", dependencies: ["MoEModel", "MoEKernels", "MoEFormats", "MoEStore", "TestSupport", "moe", "moe-profile", "moe-quantize"]),
        // Runs a command under a memory cgroup limit (tests and benchmarks); Foundation/Glibc only.
        .target(name: "MemLimit", dependencies: ["MoEFormats"], path: "Tools/MemLimit"),
        .executableTarget(
            name: "memlimit",
            dependencies: ["MemLimit", "MoEFormats", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tools/memlimit"
        ),
        .testTarget(name: "ChatParsingTests", dependencies: ["ChatParsing", "TestSupport"]),
        .testTarget(name: "MoEServeTests", dependencies: ["MoEServe", "MoEModel", "MoEKernels", "TestSupport"]),
        .testTarget(name: "MoEChatTests", dependencies: ["MoEChat", "MoEModel", "MoEKernels", "ChatTemplate", "ChatParsing", "TestSupport"]),
        .testTarget(name: "MoEServerTests", dependencies: ["MoEServer", "MoEServe", "MoEChat", "MoEModel", "ChatParsing", "TestSupport", "moe",
                                                          .product(name: "AsyncHTTPClient", package: "async-http-client")]),
        .testTarget(name: "MemLimitTests", dependencies: ["MemLimit", "MoEFormats", "TestSupport", "memlimit"]),
    ]
)
