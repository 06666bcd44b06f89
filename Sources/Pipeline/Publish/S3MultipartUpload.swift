import Foundation
import Logging
import Synchronization

/// One file's multipart upload: initiate (which carries Content-Type and Cache-Control), parts in any order on any
/// worker, then complete with the parts' ETags in order.
final class S3MultipartUpload: Sendable {
    let object: S3Object
    let partSize: Int64
    let partCount: Int
    private let state = Mutex<(uploadID: String?, etags: [Int: String])>((nil, [:]))

    init(object: S3Object, partSize: Int64) {
        self.object = object
        self.partSize = partSize
        self.partCount = Int(max(1, (object.size + partSize - 1) / partSize))
    }

    func initiate(client: S3Client, easy: CurlEasy, control: JobControl) throws(PipelineError) {
        let request = S3Request(
            method: "POST", key: object.key, query: [("uploads", "")],
            headers: [("Content-Type", object.contentType), ("Cache-Control", object.cacheControl)],
            body: .bytes([]), payloadHash: Digest.sha256Hex([UInt8]()))
        let response = try client.send(request, on: easy, control: control)
        guard let id = response.xmlValue("UploadId"), !id.isEmpty else {
            throw .publish(target: request.name, reason: "the answer to CreateMultipartUpload has no UploadId")
        }
        state.withLock { $0.uploadID = id }
    }

    func sendPart(
        _ number: Int, client: S3Client, easy: CurlEasy, worker: Int, progress: S3UploadProgress, control: JobControl
    ) throws(PipelineError) {
        guard let id = state.withLock({ $0.uploadID }) else { return }
        let offset = Int64(number - 1) * partSize
        let length = min(partSize, object.size - offset)
        let fd = try S3Publisher.openForReading(object.path)
        defer { close(fd) }
        let request = S3Request(
            method: "PUT", key: object.key, query: [("partNumber", "\(number)"), ("uploadId", id)],
            body: .file(fd: fd, offset: offset, length: length))
        let response = try client.send(request, on: easy, control: control) { progress.sending(worker: worker, bytes: $0) }
        guard let etag = response.headers["etag"], !etag.isEmpty else {
            throw .publish(target: "\(request.name) part \(number)", reason: "the answer has no ETag")
        }
        state.withLock { $0.etags[number] = etag }
        progress.finished(worker: worker, bytes: length)
    }

    func complete(client: S3Client, easy: CurlEasy, control: JobControl) throws(PipelineError) {
        let (id, etags) = state.withLock { ($0.uploadID, $0.etags) }
        guard let id, etags.count == partCount else {
            throw .publish(target: "S3 POST \(object.key)", reason: "multipart upload incomplete (\(etags.count) of \(partCount) parts)")
        }
        let parts = (1...partCount).map { "<Part><PartNumber>\($0)</PartNumber><ETag>\(Self.escape(etags[$0]!))</ETag></Part>" }
        let xml = Array("<CompleteMultipartUpload>\(parts.joined())</CompleteMultipartUpload>".utf8)
        let request = S3Request(
            method: "POST", key: object.key, query: [("uploadId", id)], headers: [("Content-Type", "application/xml")],
            body: .bytes(xml), payloadHash: Digest.sha256Hex(xml))
        _ = try client.send(request, on: easy, control: control, check: { response in
            guard let code = response.errorCode else { return .done(response) }
            let summary = "200 with error \(code)"
            if S3Client.retryableCodes.contains(code) { return .transient(summary) }
            let message = response.xmlValue("Message").map { ": \($0)" } ?? ""
            return .fatal(.publish(target: request.name, reason: summary + message))
        })
        state.withLock { $0.uploadID = nil }
    }

    /// Best effort, one try: the upload failed anyway, and its error is the one to report.
    func abort(client: S3Client, easy: CurlEasy, logger: Logger) {
        guard let id = state.withLock({ $0.uploadID }) else { return }
        let request = S3Request(method: "DELETE", key: object.key, query: [("uploadId", id)])
        if case .done = client.attemptOnce(request, on: easy, control: JobControl()) {
            state.withLock { $0.uploadID = nil }
        } else {
            logger.warning("S3 multipart upload could not be aborted", metadata: ["s3.key": "\(object.key)", "s3.upload_id": "\(id)"])
        }
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
