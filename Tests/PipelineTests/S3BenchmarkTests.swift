import Foundation
import Logging
import Testing
import TestSupport

@testable import Pipeline

/// Upload throughput against SeaweedFS, next to `aws s3 cp --recursive` on the same data and server.
/// Runs only with INBOXD_BENCH_S3=1 (see bench/s3-publish); prints its numbers.
@Suite(
    "S3 publish benchmark", .seaweedFS,
    .enabled(if: ProcessInfo.processInfo.environment["INBOXD_BENCH_S3"] == "1"))
struct S3BenchmarkTests {
    @Test("publish 64 segments of 2 MiB and one 128 MiB file")
    func throughput() async throws {
        let server = try S3TestServer.server
        let directory = NSTemporaryDirectory() + "inboxd-s3-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory + "/720p", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        for i in 0..<64 {
            try random.readData(ofLength: 2 << 20).write(to: URL(fileURLWithPath: "\(directory)/720p/seg_\(i).ts"))
        }
        try random.readData(ofLength: 128 << 20).write(to: URL(fileURLWithPath: "\(directory)/source.mp4"))
        let mib = 256.0

        for parallelism in [1, 8] {
            var configuration = S3TestServer.configuration(server)
            configuration.parallelism = parallelism
            let publisher = S3Publisher(configuration: configuration, logger: Logger(label: "bench"))
            let start = ContinuousClock.now
            _ = try await publisher.upload(directory: directory, keyPrefix: "bench/p\(parallelism)", control: JobControl())
            let seconds = (ContinuousClock.now - start) / .milliseconds(1) / 1000
            print("BENCH inboxd S3Publisher parallelism=\(parallelism): \(String(format: "%.2f", seconds)) s, \(String(format: "%.1f", mib / seconds)) MiB/s")
        }

        let aws = Process()
        aws.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        aws.arguments = ["aws", "--endpoint-url", server.endpoint, "s3", "cp", "--recursive", "--only-show-errors",
                         directory, "s3://\(server.bucket)/bench/aws"]
        var env = ProcessInfo.processInfo.environment
        env["AWS_ACCESS_KEY_ID"] = server.accessKey
        env["AWS_SECRET_ACCESS_KEY"] = server.secretKey
        env["AWS_DEFAULT_REGION"] = server.region
        aws.environment = env
        let start = ContinuousClock.now
        try aws.run()
        while aws.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        let seconds = (ContinuousClock.now - start) / .milliseconds(1) / 1000
        #expect(aws.terminationStatus == 0)
        print("BENCH aws s3 cp --recursive (10 threads): \(String(format: "%.2f", seconds)) s, \(String(format: "%.1f", mib / seconds)) MiB/s")
    }
}
