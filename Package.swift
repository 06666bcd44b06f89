// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "inboxd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "inboxd", targets: ["InboxDaemon"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C edges: system libraries plus the smallest shims for macros and variadics.
        .systemLibrary(name: "CLibAV", pkgConfig: "libavformat libavcodec libavutil libswscale libswresample"),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl"),
        .target(name: "CInboxd"),

        // Job states in SQLite: schema, migrations, records; shared by the daemon (writer) and the status API (reader).
        .target(
            name: "Store",
            dependencies: [.product(name: "GRDB", package: "GRDB.swift")]
        ),
        // Probe, HLS, thumbnail, download and publishing. Knows nothing of inboxes or SQLite.
        .target(
            name: "Pipeline",
            dependencies: [
                "CLibAV", "CCurl", "CInboxd",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Streaming multipart/form-data scanner for the HTTP receiver: pure, no I/O, so it is unit-tested on its own.
        .target(
            name: "Multipart",
            dependencies: ["CInboxd", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // Bearer tokens and their SHA-256, for the HTTP layer and `inboxd user add` alike.
        .target(
            name: "TokenHash",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // The HTTP kit both the status API and the receiver build on: JSON errors, the request context, bearer auth
        // that fills the context, request ids, metric names, JSON 404/405 from the router's own routes.
        .target(
            name: "HTTPKit",
            dependencies: [
                "Store", "TokenHash",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]
        ),
        // Read-only HTTP routes over the SQLite db, the watch page (its script and style compiled in) and the OpenAPI
        // description of every route (compiled in).
        .target(
            name: "StatusAPI",
            dependencies: [
                "Store", "HTTPKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.embedInCode("openapi.yaml"), .embedInCode("Watch/watch.js"), .embedInCode("Watch/watch.css")]
        ),
        .executableTarget(
            name: "InboxDaemon",
            dependencies: [
                "Store", "Pipeline", "StatusAPI", "HTTPKit", "TokenHash", "CInboxd", "Multipart",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            // Release: lld with packed relative relocations (DT_RELR, glibc >= 2.36). gold writes 3.3 MB of RELA
            // records that the dynamic loader reads and applies at every start; measured: idle RSS -5.5 MiB.
            linkerSettings: [.unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                                          .when(configuration: .release))]
        ),

        .testTarget(
            name: "PipelineTests",
            dependencies: ["Pipeline", "TestSupport"]
        ),
        .testTarget(
            name: "MultipartTests",
            dependencies: ["Multipart", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "StatusAPITests",
            dependencies: ["StatusAPI", "HTTPKit", "TokenHash", "Store", "TestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HummingbirdTesting", package: "hummingbird")]
        ),
        // The daemon's logic without the daemon (`@testable import` of the executable target): config, the drop
        // contract, the readiness decision, the job queue, routes in process.
        .testTarget(
            name: "InboxDaemonTests",
            dependencies: ["InboxDaemon", "Store", "Pipeline", "HTTPKit", "StatusAPI", "TestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Yams", package: "Yams"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HummingbirdTesting", package: "hummingbird"),
                           .product(name: "Logging", package: "swift-log"), .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        .testTarget(
            name: "StoreTests",
            dependencies: ["Store", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // Drives the built `inboxd` binary as a user would: real inotify, libav, SQLite, HTTP, S3.
        .testTarget(
            name: "InboxdTests",
            dependencies: ["TestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "TestSupport",
            path: "Tests/Support",
            exclude: ["fixtures"]
        ),
    ]
)
