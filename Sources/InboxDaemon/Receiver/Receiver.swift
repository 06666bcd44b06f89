import Foundation
import GRDB
import HTTPKit
import Hummingbird
import Logging
import Metrics
import Multipart
import NIOCore
import NIOPosix
import Store

/// The HTTP receiver: uploads become drops in `<inbox>/incoming/` (media + sidecar) plus a db row, answered with the
/// seed's 202. Checks run in the order that costs the client least: auth (401/403), media type (415), declared size
/// (413), free space (507); only then is `100 Continue` sent and the body read.
struct Receiver: Sendable {
    let incoming: String
    let limits: ReceiverLimits
    let committer: DropCommitter
    let journal: any UploadJournal
    let pool: NIOThreadPool
    /// The tus routes; nil for a journal that keeps no `uploads` rows.
    let resumable: ResumableUploads?
    let admission: UploadAdmission
    var rates: UploadRateLimiter { admission.rates }
    /// Why an upload's `notify_url` is refused (nil: accepted); see `WebhookSettings.notifyURLRefusal`.
    let notifyURLRefusal: @Sendable (String) -> String?

    /// `pool` runs every blocking file call of uploads (its threads are the receiver's "dedicated threads").
    /// `resumable` (the tus routes) defaults to an upload area beside `incoming/` with a 24 h expiry.
    init(incoming: String, limits: ReceiverLimits, journal: any UploadJournal, pool: NIOThreadPool,
         resumable: ResumableUploads? = nil, userLimits: UserLimits = UserLimits(),
         notifyURLRefusal: @escaping @Sendable (String) -> String? = { _ in nil }) {
        let admission = UploadAdmission(journal: journal, rates: UploadRateLimiter(defaults: userLimits, shared: journal as? any SharedUploadWindows))
        self.admission = admission
        self.notifyURLRefusal = notifyURLRefusal
        self.incoming = incoming
        self.limits = limits
        self.pool = pool
        self.journal = journal
        let committer = DropCommitter(incoming: incoming, pool: pool)
        self.committer = committer
        var uploads = resumable ?? (journal as? any ResumableJournal).map { journal in
            ResumableUploads(area: UploadArea(root: (incoming as NSString).deletingLastPathComponent + "/uploads"), committer: committer,
                             limits: limits, journal: journal, pool: pool, expirySeconds: 86_400)
        }
        uploads?.admission = admission
        uploads?.notifyURLRefusal = notifyURLRefusal
        self.resumable = uploads
    }

    func addRoutes<Context: ChannelRequestContext & AuthenticatedRequestContext>(to router: Router<Context>) {
        router.post("/api/videos", use: uploadMultipart)
        router.post("/api/videos/youtube", use: ingestURL)
        router.put("/api/videos/{video_id}/file", use: uploadRaw)
        resumable?.addRoutes(to: router)
    }

    /// The request's Content-Type, when its media type is `type` (parameters such as `boundary` aside); else 415.
    private static func requireContentType(_ request: Request, _ type: String, route: String) throws -> String {
        let contentType = request.headers[.contentType] ?? ""
        guard HeaderParameters.parse(contentType).value.lowercased() == type else {
            throw APIError.refusal(.unsupportedMediaType, "unsupported_media_type", "\(route) takes \(type), not '\(contentType)'")
        }
        return contentType
    }

    /// 401/403 for a caller who may not upload, then 429 for one over a rate limit or with a full queue.
    private func admitUploader(_ request: Request, _ context: some AuthenticatedRequestContext) async throws -> UserRow {
        try await admission.admit(request, context, declared: request.headers[.contentLength].flatMap { Int64($0) })
    }

    // MARK: POST /api/videos/ (multipart/form-data)

    @Sendable func uploadMultipart(_ request: Request, context: some ChannelRequestContext & AuthenticatedRequestContext) async throws -> Response {
        let user = try await admitUploader(request, context)
        let contentType = try Self.requireContentType(request, "multipart/form-data", route: "POST /api/videos/")
        let boundary: String
        do { boundary = try MultipartScanner.boundary(fromContentType: contentType) } catch let e as MultipartError {
            throw APIError.refusal(.badRequest, "malformed_multipart", e.description)
        }
        try limits.check(request, incoming: incoming)
        try await context.sendContinueIfExpected(request)

        let id = VideoID.make()
        var upload = MultipartUpload(videoID: id, boundary: boundary, incoming: incoming, pool: pool)
        try await upload.receive(request.body, limits: limits)
        do {
            let form = try DropRequest.upload(title: upload.fields["title"], description: upload.fields["description"],
                                              visibility: upload.fields["visibility"], notifyURL: upload.fields["notify_url"],
                                              priority: upload.fields["priority"].flatMap { $0.isEmpty ? nil : $0 })
            try checkNotifyURL(form)
            guard let video = upload.video else { throw APIError.badRequest("missing 'video' file part") }
            let mediaName = "\(id).\(MediaName.fileExtension(filename: video.filename, contentType: video.contentType, fallback: "mp4"))"
            var files = [DropCommitter.Placement(tempPath: video.tempPath, finalName: mediaName)]
            var thumbnailName: String?
            if let thumb = upload.thumbnail {
                if thumb.bytes > 0 {
                    let name = "\(id).thumbnail.\(MediaName.fileExtension(filename: thumb.filename, contentType: thumb.contentType, fallback: "jpg"))"
                    files.append(.init(tempPath: thumb.tempPath, finalName: name))
                    thumbnailName = name
                } else {
                    _ = try? await pool.runIfActive { unlink(thumb.tempPath) }  // an empty file input, as browsers send
                }
            }
            return try await accept(id: id, form: form, user: user, source: .http,
                                    thumbnail: thumbnailName, sidecarName: "\(mediaName).json", files: files,
                                    bytes: upload.receivedBytes, context: context)
        } catch {
            await upload.discard()
            throw error
        }
    }

    // MARK: PUT /api/videos/{video_id}/file (raw body, `curl -T`)

    /// The client picks the id (a UUID), so a retried PUT cannot create a second job: an id already known is 409.
    /// Metadata comes from the query: `?title=…&description=…&visibility=…&filename=…` (percent-encoded).
    @Sendable func uploadRaw(_ request: Request, context: some ChannelRequestContext & AuthenticatedRequestContext) async throws -> Response {
        let user = try await admitUploader(request, context)
        let contentType = request.headers[.contentType] ?? "application/octet-stream"
        let type = HeaderParameters.parse(contentType).value.lowercased()
        guard type == "application/octet-stream" || type.hasPrefix("video/") else {
            throw APIError.refusal(.unsupportedMediaType, "unsupported_media_type",
                              "PUT takes video/* or application/octet-stream, not '\(contentType)'")
        }
        let rawID = context.parameters.get("video_id") ?? ""
        guard let id = VideoID.parse(rawID) else {
            throw APIError.refusal(.badRequest, "bad_request", "video id '\(rawID.prefix(80))' is not a UUID")
        }
        let (query, form) = try await refusingUnreadBody(request) {
            let query = try FormQuery.parse(request.uri.query)
            let form = try DropRequest.upload(title: query["title"], description: query["description"], visibility: query["visibility"],
                                              notifyURL: query["notify_url"], priority: query["priority"])
            try checkNotifyURL(form)
            return (query, form)
        }
        if try await journal.video(id) != nil {
            throw APIError.refusal(.conflict, "conflict", "video \(id) already exists")
        }
        try limits.check(request, incoming: incoming)
        try await context.sendContinueIfExpected(request)

        var spool = try await SpoolFile.create(at: "\(incoming)/.upload-\(id).video", pool: pool)
        var received: Int64 = 0
        do {
            for try await chunk in request.body {
                received += Int64(chunk.readableBytes)
                if received > limits.maxUploadBytes { throw limits.tooLarge(after: received) }
                try await spool.append(chunk)
            }
            try await spool.finish()
        } catch {
            await spool.discard()
            if let e = error as? SpoolError { throw e.httpFailure }
            throw error
        }
        do {
            let filename = query["filename"]
            let mediaName = "\(id).\(MediaName.fileExtension(filename: filename, contentType: contentType, fallback: "mp4"))"
            return try await accept(id: id, form: form, user: user, source: .http, thumbnail: nil,
                                    sidecarName: "\(mediaName).json", files: [.init(tempPath: spool.path, finalName: mediaName)],
                                    bytes: received, context: context)
        } catch {
            await spool.discard()
            throw error
        }
    }

    // MARK: POST /api/videos/youtube (URL ingest)

    struct URLIngestRequest: Decodable {
        var url: String
        var title: String?
        var description: String?
        var visibility: String?
        var start_s: Double?
        var duration_s: Double?
        var notify_url: String?
        var priority: Double?

        enum CodingKeys: String, CodingKey { case url, title, description, visibility, start_s, duration_s, notify_url, priority }

        /// Optional keys may be absent, but a key that is present must hold its type: `null` is refused.
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            func value<T: Decodable>(_ key: CodingKeys) throws -> T? {
                guard c.contains(key) else { return nil }
                return try c.decode(T.self, forKey: key)
            }
            url = try c.decode(String.self, forKey: .url)
            title = try value(.title)
            description = try value(.description)
            visibility = try value(.visibility)
            start_s = try value(.start_s)
            duration_s = try value(.duration_s)
            notify_url = try value(.notify_url)
            priority = try value(.priority)
        }
    }

    @Sendable func ingestURL(_ request: Request, context: some ChannelRequestContext & AuthenticatedRequestContext) async throws -> Response {
        let user = try await admitUploader(request, context)
        _ = try Self.requireContentType(request, "application/json", route: "POST /api/videos/youtube")
        try limits.check(request, incoming: incoming)  // the download lands in the inbox too
        try await context.sendContinueIfExpected(request)
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: 64 * 1024) } catch is NIOTooManyBytesError {
            throw APIError.refusal(.contentTooLarge, "too_large", "URL ingest requests are at most 64 KiB")
        }
        let ingest: URLIngestRequest
        do { ingest = try JSONDecoder().decode(URLIngestRequest.self, from: Data(body.readableBytesView)) } catch {
            throw APIError.badRequest("malformed JSON: \(Self.describe(error))")
        }
        let form = try DropRequest.upload { () throws(DropFieldError) in
            var r = try DropRequest(title: ingest.title)
            try r.setDescription(ingest.description)
            try r.setVisibility(ingest.visibility)
            try r.setSourceURL(ingest.url, field: "url")
            try r.setClip(start: ingest.start_s, duration: ingest.duration_s, prefix: "")
            try r.setNotifyURL(ingest.notify_url)
            try r.setPriority(ingest.priority)
            return r
        }
        try checkNotifyURL(form)
        let id = VideoID.make()
        return try await accept(id: id, form: form, user: user, source: .url, thumbnail: nil,
                                sidecarName: "\(id).json", files: [], bytes: Int64(body.readableBytes), context: context)
    }

    // MARK: shared

    /// A `notify_url` the server cannot sign, or whose address the guard refuses, is a 400 naming the field.
    private func checkNotifyURL(_ form: DropRequest) throws {
        guard let url = form.notifyURL, let refusal = notifyURLRefusal(url) else { return }
        throw APIError.badRequest("'notify_url' refused: \(refusal)")
    }

    private func accept(
        id: String, form: DropRequest, user: UserRow, source: JobSource,
        thumbnail: String?, sidecarName: String, files: [DropCommitter.Placement], bytes: Int64, context: some RequestContext
    ) async throws -> Response {
        let (sidecar, row) = try form.uploadRecords(id: id, user: user, source: source, thumbnail: thumbnail)
        do {
            let journal = self.journal
            try await committer.commit(sidecar: sidecar, sidecarName: sidecarName, files: files) {
                try await journal.recordAcceptedUpload(row)
            }
        } catch let e as SpoolError {
            throw e.httpFailure
        }
        Counter(label: "inboxd_upload_bytes_total").increment(by: bytes)
        await rates.recordAccepted(user, bytes: bytes)
        context.logger.info("Video upload accepted for background processing: \(id)",
                            metadata: ["job.id": "\(id)", "user.name": "\(user.username)", "upload.bytes": "\(bytes)", "job.source": "\(source.rawValue)"])
        let json = try JSONEncoder.sortedKeys.encode(UploadAccepted(row: row))
        return Response(status: .accepted, headers: [.contentType: "application/json", .location: "/api/videos/\(id)/status"],
                        body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let c): c.debugDescription
        default: "\(error)"
        }
    }
}

extension Request {
    /// Whether a body may still be coming (then an early refusal closes the connection instead of draining it).
    var hasBody: Bool {
        if let length = headers[.contentLength] { return length != "0" }
        return headers[.transferEncoding] != nil
    }
}

extension JSONEncoder {
    static var sortedKeys: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
