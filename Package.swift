// swift-tools-version:6.1
import PackageDescription

/// Sluice: a multi-tenant data-ingestion platform.
///
/// Data flows one way through the targets:
/// HTTP transport (`SluiceHTTP`) → API routes (`SluiceAPI`) → domain (`SluiceCore`)
/// → store (`SluiceStore`), with `SluiceMetrics` observing every step and
/// `SluiceServer` composing the running service for the `sluice` executable.
///
/// Linux only: the code uses Glibc, epoll (through libmicrohttpd), `runuser` and `setfacl` for the embedded
/// PostgreSQL; no other platform is declared because none is built or tested.
let package = Package(
    name: "Sluice",
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "sluice-benchmarks", targets: ["SluiceBenchmarks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // Tenant definitions are written in YAML.
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // SHA-256 for upload checksums and API-key hashes.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // C libraries, imported through pkg-config with a small shim header each.
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd",
                       providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // GnuTLS, libmicrohttpd's TLS library, for HTTPS.
        .systemLibrary(name: "CGnuTLS", pkgConfig: "gnutls", providers: [.apt(["libgnutls28-dev"])]),
        // HTTPS certificates replaceable while serving, and writes through a connection's TLS session.
        .target(name: "CTransportTLS", dependencies: ["CMicroHTTPD", "CGnuTLS"]),
        // JSON bodies for the errors libmicrohttpd answers itself (it has no option for them).
        .target(name: "CTransportErrors", dependencies: ["CMicroHTTPD", "CTransportTLS"]),
        // fork + rlimits + exec for external ingest apps: code Swift cannot run between fork and exec.
        .target(name: "CSubprocess"),

        // Value types every layer shares: the coded failure shape, durations in seconds.
        .target(name: "SluiceCommon"),

        // Transport and infrastructure: no knowledge of tenants or ingestion.
        .target(name: "SluiceCompression", dependencies: ["CZlib", "SluiceCommon"]),
        .target(name: "SluiceHTTP", dependencies: [
            "CMicroHTTPD", "CTransportErrors", "CTransportTLS", "SluiceCompression", "SluiceCommon",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Operating-system steps: helper programs, system users, directory access, secret files.
        .target(name: "SluiceSystem", dependencies: ["SluiceCommon"]),
        .target(name: "SluiceStore", dependencies: [
            "CLibPQ", "SluiceCommon", "SluiceSystem",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "SluiceMetrics", dependencies: ["SluiceCompression", "SluiceCommon"]),

        // Domain: platform schema, health, and (later) tenants and ingestion. Never imports HTTP.
        .target(name: "SluiceCore", dependencies: [
            "SluiceStore", "SluiceMetrics", "SluiceCompression", "SluiceCommon", "SluiceSystem", "CSubprocess",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The one layer that maps HTTP routes onto domain services.
        // Its resources: the web console's static files and the OpenAPI description, served from memory.
        .target(name: "SluiceAPI", dependencies: [
            "SluiceHTTP", "SluiceCore", "SluiceMetrics",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ], resources: [.copy("Resources")]),
        // Composition root: configuration, embedded PostgreSQL, lifecycle, signals.
        // Outbound transport: alert notifications' HTTP(S) (and SMTP) through libcurl, behind the domain's protocols.
        .target(name: "SluiceOutbound", dependencies: ["CCurl", "SluiceCommon", "SluiceCore"]),
        .target(name: "SluiceServer", dependencies: [
            "SluiceAPI", "SluiceCommon", "SluiceCore", "SluiceHTTP", "SluiceOutbound", "SluiceStore", "SluiceMetrics", "SluiceSystem",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "sluice", dependencies: [
            "SluiceServer", "SluiceCore", "SluiceHTTP", "SluiceOutbound", "SluiceSystem",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Speed and memory benchmarks: each prints ratios against a baseline measured in the same run.
        .executableTarget(name: "SluiceBenchmarks", dependencies: [
            "SluiceAPI", "SluiceCommon", "SluiceCore", "SluiceHTTP", "SluiceMetrics", "SluiceServer", "SluiceStore", "SluiceTestSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Benchmarks/SluiceBenchmarks"),

        // Fuzzing: the parsers of untrusted input as libFuzzer targets (`scripts/fuzz`); the seed corpora
        // and crash regressions under Tests/Fuzz are replayed by the core tests.
        .target(name: "SluiceFuzzTargets", dependencies: ["SluiceCore"]),
        .executableTarget(name: "sluice-fuzz", dependencies: ["SluiceFuzzTargets"]),

        // Shared by the test targets: a private PostgreSQL cluster, loopback HTTP client, process helpers.
        .target(name: "SluiceTestSupport", dependencies: ["SluiceStore", "SluiceSystem", "SluiceCompression"]),
        .testTarget(name: "SluiceHTTPTests", dependencies: ["SluiceHTTP", "SluiceTestSupport"]),
        .testTarget(name: "SluiceStoreTests", dependencies: ["SluiceStore", "SluiceSystem", "SluiceTestSupport"]),
        .testTarget(name: "SluiceMetricsTests", dependencies: ["SluiceMetrics", "SluiceCompression", "SluiceTestSupport"]),
        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore", "SluiceFuzzTargets", "SluiceStore", "SluiceTestSupport"]),
        .testTarget(name: "SluiceServerTests", dependencies: ["SluiceServer", "SluiceCompression", "SluiceTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
