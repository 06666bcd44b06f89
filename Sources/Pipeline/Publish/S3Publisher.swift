import Foundation
import Logging

/// Publishes a job directory to an S3-compatible store with libcurl: SigV4-signed PUTs, multipart for large files,
/// `parallelism` uploads at once on dedicated threads, transient failures retried with backoff, media before
/// playlists and `master.m3u8` last. Re-publishing the same job overwrites the same keys, so a retry after a crash
/// is safe. Jobs publish through `liveTarget` (`S3LiveTarget`, the same upload phases file by file as the job
/// converts); `upload` sends a whole directory (`inboxd publish`), `publish` a whole finished job directory.
public final class S3Publisher: Publisher {
    let configuration: S3Configuration
    let logger: Logger

    /// S3 refuses parts below 5 MiB (except the last) and uploads of more than 10 000 parts.
    static let minimumPartSize: Int64 = 5 << 20
    static let maximumParts: Int64 = 10_000
    /// Above this, a single PUT is refused by S3 whatever the threshold says.
    static let maximumSinglePut: Int64 = 5 << 30

    public init(configuration: S3Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func publish(directory: String, videoID: String, control: JobControl) async throws -> PublishedVideo {
        let prefix = videoPrefix(videoID)
        let root = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        guard FileManager.default.fileExists(atPath: "\(root)/master.m3u8") else {
            throw PipelineError.publish(target: root, reason: "no master.m3u8 to publish")
        }
        let keys = try await upload(directory: root, keyPrefix: prefix, control: control)
        let client = try S3Client(configuration: configuration, logger: logger)
        let base = publicBaseURL(client)
        let thumbnail = keys.contains("\(prefix)/thumbnail.jpg") ? "\(base)/\(Self.urlPath("\(prefix)/thumbnail.jpg"))" : nil
        return PublishedVideo(videoURL: "\(base)/\(Self.urlPath("\(prefix)/master.m3u8"))", thumbnailURL: thumbnail)
    }

    /// `[s3] prefix/videos/<id>`, the key prefix of one video's objects.
    func videoPrefix(_ videoID: String) -> String {
        [S3UploadPlan.trimSlashes(configuration.prefix), "videos", videoID].filter { !$0.isEmpty }.joined(separator: "/")
    }

    public func liveTarget(videoID: String) throws(PipelineError) -> any LiveTarget {
        try S3LiveTarget(publisher: self, keyPrefix: videoPrefix(videoID))
    }

    /// Uploads every file under `directory` as `keyPrefix/<relative path>` (the `[s3] prefix` is not added: the
    /// caller passes the whole key prefix) and returns the keys in upload order.
    public func upload(directory: String, keyPrefix: String, control: JobControl) async throws -> [String] {
        try await withTaskCancellationHandler {
            try await DedicatedThread.run(name: "s3-publish") { () throws(PipelineError) -> [String] in
                try self.uploadBlocking(directory: directory, keyPrefix: keyPrefix, control: control)
            }
        } onCancel: {
            control.cancel(.other("publishing was cancelled"))
        }
    }

    func publicBaseURL(_ client: S3Client) -> String {
        var base = configuration.publicBaseURL.flatMap { $0.isEmpty ? nil : $0 } ?? client.bucketURL
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    static func urlPath(_ key: String) -> String { SigV4Signer.uriEncode(key, keepSlash: true) }

    private func uploadBlocking(directory: String, keyPrefix: String, control: JobControl) throws(PipelineError) -> [String] {
        let started = ContinuousClock.now
        let client = try S3Client(configuration: configuration, logger: logger)
        let plan = try S3UploadPlan(directory: directory, keyPrefix: keyPrefix)
        let pool = try S3WorkerPool(size: configuration.parallelism)
        let progress = S3UploadProgress(totalBytes: plan.totalBytes, workers: pool.handles.count, control: control)
        logger.info(
            "S3 upload started",
            metadata: [
                "s3.bucket": "\(configuration.bucket)", "s3.host": "\(client.requestHost)", "s3.prefix": "\(keyPrefix)",
                "s3.objects": "\(plan.objects.count)", "s3.bytes": "\(plan.totalBytes)",
            ])
        for phase in plan.phases {
            try uploadPhase(phase, client: client, pool: pool, progress: progress, control: control)
        }
        control.progressed(1)
        let elapsed = (ContinuousClock.now - started) / .milliseconds(1) / 1000
        logger.info(
            "S3 upload finished",
            metadata: [
                "s3.prefix": "\(keyPrefix)", "s3.objects": "\(plan.objects.count)", "s3.bytes": "\(plan.totalBytes)",
                "s3.seconds": "\(String(format: "%.2f", elapsed))",
                "s3.mib_per_s": "\(String(format: "%.1f", Double(plan.totalBytes) / 1_048_576 / max(elapsed, 0.001)))",
            ])
        return plan.objects.map(\.key)
    }

    /// One phase: start the multipart uploads, send small files and parts in parallel, then complete the multipart
    /// uploads. Any failure aborts the multipart uploads started so far (S3 would keep their parts, and bill them).
    func uploadPhase(
        _ objects: [S3Object], client: S3Client, pool: S3WorkerPool, progress: S3UploadProgress, control: JobControl
    ) throws(PipelineError) {
        let large = objects.filter { $0.size >= configuration.multipartThresholdBytes || $0.size > Self.maximumSinglePut }
        let small = objects.filter { !($0.size >= configuration.multipartThresholdBytes || $0.size > Self.maximumSinglePut) }
        let multiparts = large.map { S3MultipartUpload(object: $0, partSize: partSize(for: $0.size)) }

        do throws(PipelineError) {
            try pool.run(count: multiparts.count) { index, _, easy throws(PipelineError) in
                try multiparts[index].initiate(client: client, easy: easy, control: control)
            }
            let parts = multiparts.flatMap { upload in (1...upload.partCount).map { (upload, $0) } }
            try pool.run(count: small.count + parts.count) { index, worker, easy throws(PipelineError) in
                if index < small.count {
                    try self.put(small[index], client: client, easy: easy, worker: worker, progress: progress, control: control)
                } else {
                    let (upload, number) = parts[index - small.count]
                    try upload.sendPart(number, client: client, easy: easy, worker: worker, progress: progress, control: control)
                }
            }
            try pool.run(count: multiparts.count) { index, _, easy throws(PipelineError) in
                try multiparts[index].complete(client: client, easy: easy, control: control)
            }
        } catch {
            for upload in multiparts { upload.abort(client: client, easy: pool.handles[0], logger: logger) }
            throw error
        }
    }

    private func partSize(for size: Int64) -> Int64 {
        let needed = (size + Self.maximumParts - 1) / Self.maximumParts
        let mib: Int64 = 1 << 20
        let part = max(configuration.partSizeBytes, Self.minimumPartSize, needed)
        return (part + mib - 1) / mib * mib
    }

    private func put(
        _ object: S3Object, client: S3Client, easy: CurlEasy, worker: Int, progress: S3UploadProgress, control: JobControl
    ) throws(PipelineError) {
        let fd = try Self.openForReading(object.path)
        defer { close(fd) }
        let request = S3Request(
            method: "PUT", key: object.key,
            headers: [("Content-Type", object.contentType), ("Cache-Control", object.cacheControl)],
            body: .file(fd: fd, offset: 0, length: object.size))
        _ = try client.send(request, on: easy, control: control) { progress.sending(worker: worker, bytes: $0) }
        progress.finished(worker: worker, bytes: object.size)
        logger.debug("S3 object uploaded", metadata: ["s3.key": "\(object.key)", "s3.bytes": "\(object.size)"])
    }

    static func openForReading(_ path: String) throws(PipelineError) -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
        return fd
    }
}
