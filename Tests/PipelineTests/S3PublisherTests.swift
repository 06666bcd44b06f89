import Foundation
import Logging
import Synchronization
import Testing
import TestSupport

@testable import Pipeline

@Suite("S3 publisher against a real SeaweedFS", .seaweedFS)
struct S3PublisherTests {
    let logger = Logger(label: "inboxd.test.s3")

    @Test("a converted job is published with the right types and cache headers, and ffprobe plays it over HTTP")
    func publishesHLSJob() async throws {
        let server = try S3TestServer.server
        var configuration = S3TestServer.configuration(server)
        configuration.prefix = "/tenant-a/"
        let publisher = S3Publisher(configuration: configuration, logger: logger)
        let directory = try HLSFixture.directory
        let id = UUID().uuidString.lowercased()
        let control = JobControl()
        let seen = Mutex<[Double]>([])
        control.setProgressHandler { fraction in seen.withLock { $0.append(fraction) } }

        let video = try await publisher.publish(directory: directory, videoID: id, control: control)

        let base = "\(server.endpoint)/\(server.bucket)/tenant-a/videos/\(id)"
        #expect(video == PublishedVideo(videoURL: "\(base)/master.m3u8", thumbnailURL: "\(base)/thumbnail.jpg"))
        let files = filesUnder(directory)
        #expect(files.contains("240p/index.m3u8") && files.contains("240p/seg_000.ts") && files.count > 10)
        for file in files {
            let head = try S3TestServer.head("tenant-a/videos/\(id)/\(file)", configuration)
            let size = try FileManager.default.attributesOfItem(atPath: "\(directory)/\(file)")[.size] as? Int
            #expect(head.headers["content-length"] == size.map(String.init), "\(file)")
            switch (file as NSString).pathExtension {
            case "m3u8":
                #expect(head.headers["content-type"] == "application/vnd.apple.mpegurl", "\(file)")
                #expect(head.headers["cache-control"] == "public, max-age=5", "\(file)")
            case "ts":
                #expect(head.headers["content-type"] == "video/mp2t", "\(file)")
                #expect(head.headers["cache-control"] == "public, max-age=31536000, immutable", "\(file)")
            case "jpg":
                #expect(head.headers["content-type"] == "image/jpeg", "\(file)")
            default:
                Issue.record("unexpected file \(file)")
            }
        }
        let probed = try HLSFixture.run(
            "ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", video.videoURL])
        let duration = try #require(Double(probed.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(abs(duration - HLSFixture.seconds) < 0.5)
        let fractions = seen.withLock { $0 }
        #expect(fractions.last == 1)
        #expect(fractions == fractions.sorted())
    }

    @Test("uploads go media first, then rendition playlists, then master.m3u8; re-uploading is safe")
    func uploadOrderAndIdempotence() async throws {
        let server = try S3TestServer.server
        let publisher = S3Publisher(configuration: S3TestServer.configuration(server), logger: logger)
        let prefix = "admin/\(UUID().uuidString.prefix(8))"
        let first = try await publisher.upload(directory: try HLSFixture.directory, keyPrefix: prefix, control: JobControl())
        let second = try await publisher.upload(directory: try HLSFixture.directory, keyPrefix: prefix, control: JobControl())

        #expect(first == second)
        #expect(first.last == "\(prefix)/master.m3u8")
        let firstPlaylist = try #require(first.firstIndex { $0.hasSuffix(".m3u8") })
        #expect(first[..<firstPlaylist].allSatisfy { !$0.hasSuffix(".m3u8") })
        #expect(first[firstPlaylist...].allSatisfy { $0.hasSuffix(".m3u8") })
        #expect(Set(first) == Set(filesUnder(try HLSFixture.directory).map { "\(prefix)/\($0)" }))
    }

    @Test("a wrong secret fails at once with the server's 403 SignatureDoesNotMatch")
    func wrongSecret() async throws {
        let server = try S3TestServer.server
        var configuration = S3TestServer.configuration(server)
        configuration.secretAccessKey = "not-the-secret"
        configuration.retryBaseDelaySeconds = 5  // a retry would show as "gave up after"
        let publisher = S3Publisher(configuration: configuration, logger: logger)
        let id = UUID().uuidString.lowercased()

        let error = await #expect(throws: PipelineError.self) {
            try await publisher.publish(directory: try HLSFixture.directory, videoID: id, control: JobControl())
        }
        let text = "\(try #require(error))"
        #expect(text.contains("S3 PUT videos/\(id)/"))
        #expect(text.contains("403 SignatureDoesNotMatch"))
        #expect(!text.contains("gave up"))
    }

    @Test("a bucket that does not exist fails at once, naming NoSuchBucket")
    func missingBucket() async throws {
        let server = try S3TestServer.server
        var configuration = S3TestServer.configuration(server)
        configuration.bucket = "inboxd-no-such-bucket-\(UUID().uuidString.prefix(6).lowercased())"
        configuration.retryBaseDelaySeconds = 5
        let publisher = S3Publisher(configuration: configuration, logger: logger)

        let error = await #expect(throws: PipelineError.self) {
            try await publisher.publish(directory: try HLSFixture.directory, videoID: "v1", control: JobControl())
        }
        let text = "\(try #require(error))"
        #expect(text.contains("404 NoSuchBucket"))
        #expect(text.contains("create the bucket"))
        #expect(!text.contains("gave up"))
    }

    @Test("a file above the multipart threshold goes up in parts and reads back byte-identical")
    func multipart() async throws {
        let server = try S3TestServer.server
        var configuration = S3TestServer.configuration(server)
        configuration.multipartThresholdBytes = 6 << 20
        configuration.partSizeBytes = 5 << 20
        configuration.parallelism = 3
        let publisher = S3Publisher(configuration: configuration, logger: logger)
        let directory = NSTemporaryDirectory() + "inboxd-multipart-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let big = try #require(FileHandle(forReadingAtPath: "/dev/urandom")?.readData(ofLength: 17 << 20))
        try big.write(to: URL(fileURLWithPath: "\(directory)/talk.mp4"))
        // A name S3 must see percent-encoded exactly as it was signed.
        try Data("small".utf8).write(to: URL(fileURLWithPath: "\(directory)/notes (1)+é~.json"))
        let prefix = "multipart/\(UUID().uuidString.prefix(8))"

        let keys = try await publisher.upload(directory: directory, keyPrefix: prefix, control: JobControl())

        #expect(Set(keys) == ["\(prefix)/talk.mp4", "\(prefix)/notes (1)+é~.json"])
        #expect(try S3TestServer.head("\(prefix)/notes (1)+é~.json", configuration).headers["content-length"] == "5")
        let head = try S3TestServer.head("\(prefix)/talk.mp4", configuration)
        #expect(head.headers["content-type"] == "video/mp4")
        #expect(head.headers["etag"]?.hasSuffix("-4\"") == true, "a 4-part upload's ETag ends in -4: \(head.headers)")
        let copy = "\(directory)/read-back"
        try S3TestServer.get("\(prefix)/talk.mp4", to: copy, configuration)
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == big)
    }

    @Test("cancelling the job stops the upload with a cancelled error")
    func cancellation() async throws {
        let server = try S3TestServer.server
        var configuration = S3TestServer.configuration(server)
        configuration.parallelism = 1
        let publisher = S3Publisher(configuration: configuration, logger: logger)
        let control = JobControl()
        control.setProgressHandler { _ in control.cancel(.shutdown) }

        let error = await #expect(throws: PipelineError.self) {
            try await publisher.publish(directory: try HLSFixture.directory, videoID: "cancelled", control: control)
        }
        #expect(error == .cancelled(reason: "daemon shutting down"))
        let master = try? S3TestServer.head("videos/cancelled/master.m3u8", configuration)
        #expect(master == nil, "the master playlist must not be published by a cancelled job")
    }
}

@Suite("S3 publisher rides out an S3 restart", .seaweedFS, .enabled(if: !SeaweedFS.externalFromEnvironment))
struct S3OutageTests {
    @Test("S3 stopped mid-upload and started again a few seconds later: the publish still succeeds")
    func restartMidUpload() async throws {
        let server = try S3TestServer.server
        var configuration = S3TestServer.configuration(server)
        configuration.parallelism = 1
        configuration.maxAttempts = 20
        let publisher = S3Publisher(configuration: configuration, logger: Logger(label: "inboxd.test.s3"))
        let id = UUID().uuidString.lowercased()
        let control = JobControl()
        let stoppedAt = Mutex<Double?>(nil)
        let restart = DispatchGroup()
        control.setProgressHandler { fraction in
            guard fraction > 0.2, fraction < 0.8 else { return }
            let first = stoppedAt.withLock { s -> Bool in
                guard s == nil else { return false }
                s = fraction
                return true
            }
            guard first else { return }
            // Stopped from inside the only upload thread's progress callback: nothing is uploaded meanwhile.
            server.stop()
            restart.enter()
            Thread {
                Thread.sleep(forTimeInterval: 3)
                try? server.start()
                restart.leave()
            }.start()
        }

        let video = try await publisher.publish(directory: try HLSFixture.directory, videoID: id, control: control)
        await Task.detached { restart.wait() }.value

        let fraction = try #require(stoppedAt.withLock { $0 })
        #expect(fraction < 1)
        for file in filesUnder(try HLSFixture.directory) {
            #expect((try? S3TestServer.head("videos/\(id)/\(file)", configuration))?.status == 200, "\(file)")
        }
        #expect(video.videoURL.hasSuffix("videos/\(id)/master.m3u8"))
    }
}
