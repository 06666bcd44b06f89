import Foundation
import Logging
import Synchronization

/// Live publishing into the bucket: each batch goes up through the publisher's own phase upload (parallel workers,
/// multipart for big files, retries), on one worker pool kept for the whole job so its connections stay open.
/// Playlists that will still change get `Cache-Control: public, max-age=1`; segments keep their long lifetime.
final class S3LiveTarget: LiveTarget {
    private let publisher: S3Publisher
    private let client: S3Client
    private let pool: S3WorkerPool
    private let keyPrefix: String
    private let baseURL: String
    private let started = ContinuousClock.now
    private let totals = Mutex<(objects: Int, bytes: Int64)>((0, 0))

    init(publisher: S3Publisher, keyPrefix: String) throws(PipelineError) {
        self.publisher = publisher
        self.keyPrefix = keyPrefix
        client = try S3Client(configuration: publisher.configuration, logger: publisher.logger)
        pool = try S3WorkerPool(size: publisher.configuration.parallelism)
        baseURL = publisher.publicBaseURL(client)
        publisher.logger.info("S3 upload started", metadata: [
            "s3.bucket": "\(publisher.configuration.bucket)", "s3.host": "\(client.requestHost)", "s3.prefix": "\(keyPrefix)",
            "s3.live": "true",
        ])
    }

    func finished() {
        let (objects, bytes) = totals.withLock { ($0.objects, $0.bytes) }
        let elapsed = (ContinuousClock.now - started) / .milliseconds(1) / 1000
        publisher.logger.info("S3 upload finished", metadata: [
            "s3.prefix": "\(keyPrefix)", "s3.objects": "\(objects)", "s3.bytes": "\(bytes)",
            "s3.seconds": "\(String(format: "%.2f", elapsed))", "s3.live": "true",
        ])
    }

    func url(of relativePath: String) -> String { "\(baseURL)/\(S3Publisher.urlPath("\(keyPrefix)/\(relativePath)"))" }

    func put(_ files: [LiveFile], control: JobControl) throws(PipelineError) {
        var objects: [S3Object] = []
        for file in files {
            var st = stat()
            guard stat(file.path, &st) == 0 else { throw .io(path: file.path, reason: String(cString: strerror(errno))) }
            objects.append(S3Object(path: file.path, relativePath: file.relativePath, key: "\(keyPrefix)/\(file.relativePath)",
                                    size: Int64(st.st_size), changing: file.changing))
        }
        let progress = S3UploadProgress(totalBytes: objects.reduce(0) { $0 + $1.size }, workers: pool.handles.count, control: nil)
        try publisher.uploadPhase(objects, client: client, pool: pool, progress: progress, control: control)
        totals.withLock { $0.objects += objects.count; $0.bytes += objects.reduce(0) { $0 + $1.size } }
    }

    func publishedText(_ relativePath: String, control: JobControl) throws(PipelineError) -> String? {
        let request = S3Request(method: "GET", key: "\(keyPrefix)/\(relativePath)", allowMissing: true)
        let response = try client.send(request, on: pool.handles[0], control: control)
        return response.status == 404 ? nil : response.text
    }
}
