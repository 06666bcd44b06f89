import Foundation
import HTTPKit
import Hummingbird
import Logging
import Metrics
import Multipart
import NIOCore
import NIOPosix
import Store

/// The tus 1.0.0 receiver at `/api/uploads/`: core (`HEAD`, `PATCH`, `OPTIONS`) plus creation,
/// creation-with-upload, termination, expiration and checksum. An upload is a job from its creation on (the upload
/// id is the video id; status `processing`, phase `receiving`, progress = offset / length); its bytes grow in
/// `uploads/<id>/data` (`UploadArea`), each acknowledged chunk `fdatasync`ed before the 204, and the last byte turns
/// it into a drop exactly as the multipart route makes one (`DropCommitter`: media renamed in, row, sidecar last).
/// Auth, limits and the free-space check are the receiver's own.
struct ResumableUploads: Sendable {
    let area: UploadArea
    let committer: DropCommitter
    let limits: ReceiverLimits
    let journal: any ResumableJournal
    let pool: NIOThreadPool
    /// `upload_expiry_hours`: an upload with no new data for this long expires.
    let expirySeconds: Double
    let active = ActiveUploads()
    /// The receiver's per-user limits (set by `Receiver`): a creation counts as an upload start, its Upload-Length
    /// as its bytes.
    var admission: UploadAdmission?
    /// Why a `notify_url` is refused (nil: accepted; set by `Receiver`, see `WebhookSettings.notifyURLRefusal`).
    var notifyURLRefusal: @Sendable (String) -> String? = { _ in nil }

    func addRoutes<Context: ChannelRequestContext & AuthenticatedRequestContext>(to router: Router<Context>) {
        router.post("/api/uploads", use: create)
        router.on("/api/uploads", method: .options, use: options)
        router.head("/api/uploads/{video_id}", use: head)
        router.patch("/api/uploads/{video_id}", use: patch)
        router.delete("/api/uploads/{video_id}", use: terminate)
        router.post("/api/uploads/{video_id}", use: overridden)
    }

    // MARK: OPTIONS: what this server speaks (no auth, as the protocol asks)

    @Sendable func options(_ request: Request, context: some RequestContext) async throws -> Response {
        Response(status: .noContent, headers: [
            .tusResumable: Tus.version, .tusVersion: Tus.version, .tusExtension: Tus.extensions,
            .tusMaxSize: String(limits.maxUploadBytes), .tusChecksumAlgorithm: Tus.checksumAlgorithms,
        ])
    }

    // MARK: POST /api/uploads/ (creation, creation-with-upload)

    @Sendable func create(_ request: Request, context: some ChannelRequestContext & AuthenticatedRequestContext) async throws -> Response {
        try await Self.tus(request) {
            let declared = request.headers[.uploadLength].flatMap { Int64($0) }
            let user: UserRow
            if let admission {
                user = try await admission.admit(request, context, declared: declared)
            } else {
                user = try await refusingUnreadBody(request) { try context.requireUploader() }
            }
            let (length, form, fields, mediaName, id) = try await refusingUnreadBody(request) { () throws -> (Int64, DropRequest, [String: String], String, String) in
                try Self.requireVersion(request)
                if request.headers[.uploadDeferLength] != nil || request.headers[.uploadConcat] != nil {
                    throw APIError.badRequest("Upload-Defer-Length and Upload-Concat are not supported (Tus-Extension: \(Tus.extensions))")
                }
                guard let text = request.headers[.uploadLength], let length = Int64(text), length >= 0 else {
                    throw APIError.badRequest("Upload-Length must be the upload's size in bytes (an integer ≥ 0)")
                }
                try limits.check(declared: length, at: self.area.root, what: "upload")
                let fields = try TusMetadata.parse(request.headers[.uploadMetadata])
                let form = try Self.dropRequest(fields)
                if let url = form.notifyURL, let refusal = notifyURLRefusal(url) {
                    throw APIError.badRequest("'notify_url' refused: \(refusal)")
                }
                let type = fields["filetype"] ?? fields["type"]
                if let type, !type.isEmpty {
                    let media = HeaderParameters.parse(type).value.lowercased()
                    guard media == "application/octet-stream" || media.hasPrefix("video/") else {
                        throw APIError(.unsupportedMediaType, "unsupported_media_type",
                                       "Upload-Metadata filetype is \(type.prefix(80)); expected video/* or application/octet-stream")
                    }
                }
                let id = VideoID.make()
                let ext = MediaName.fileExtension(filename: fields["filename"] ?? fields["name"], contentType: type, fallback: "mp4")
                return (length, form, fields, "\(id).\(ext)", id)
            }
            let withData = request.hasBody
            if withData, HeaderParameters.parse(request.headers[.contentType] ?? "").value.lowercased() != Tus.offsetContentType {
                throw APIError.refusal(.unsupportedMediaType, "unsupported_media_type",
                                       "a creation request with data takes Content-Type \(Tus.offsetContentType)")
            }
            let checksum = try await refusingUnreadBody(request) { try TusChecksum.parse(request.headers[.uploadChecksum]) }

            var (_, video) = try form.uploadRecords(id: id, user: user, source: .http)
            video.phase = .receiving
            let upload = UploadRow(videoID: id, uploadLength: length, metadata: request.headers[.uploadMetadata] ?? "", mediaName: mediaName,
                                   userID: video.userID, username: user.username, expiresAt: expiry())
            let uploadArea = self.area
            do {
                try await pool.runIfActive { try SpoolError.io { try uploadArea.create(id) } }
                try await journal.createResumableUpload(video: video, upload: upload)
            } catch {
                _ = try? await pool.runIfActive { uploadArea.remove(id) }
                if let e = error as? SpoolError { throw e.httpFailure }
                throw error
            }
            if let declared, let rates = admission?.rates { await rates.recordAccepted(user, bytes: declared) }
            context.logger.info("resumable upload created", metadata: [
                "job.id": "\(id)", "user.name": "\(user.username)", "upload.length": "\(length)", "upload.fields": "\(fields.keys.sorted())"])
            var headers: HTTPFields = [.location: "/api/uploads/\(id)", .videoID: id, .contentType: "application/json"]
            var offset: Int64 = 0
            if withData || length == 0 {
                do {
                    offset = try await exclusively(id) {
                        try await receive(upload, at: nil, request: request, checksum: withData ? checksum : nil, context: context)
                    }
                } catch var refusal as APIError {
                    // The upload exists even though its first chunk was refused: tell the client where to resume.
                    refusal.headers[.location] = "/api/uploads/\(id)"
                    refusal.headers[.videoID] = id
                    throw refusal
                }
                headers[.uploadOffset] = String(offset)
            }
            if offset < length { headers[.uploadExpires] = HTTPDate.string(Timestamp.date(upload.expiresAt) ?? Date()) }
            let json = try JSONEncoder.sortedKeys.encode(UploadAccepted(row: video))
            return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json)))
        }
    }

    /// The sidecar fields a creation may carry; `title` falls back to the client's file name (tus clients such as
    /// Uppy send `filename`/`name`, not a title).
    static func dropRequest(_ fields: [String: String]) throws(APIError) -> DropRequest {
        func number(_ key: String) throws(DropFieldError) -> Double? {
            guard let text = fields[key] else { return nil }
            guard let value = Double(text) else { throw .invalid(field: key, reason: "must be a number") }
            return value
        }
        return try DropRequest.upload { () throws(DropFieldError) in
            var r = try DropRequest(title: fields["title"] ?? fields["filename"] ?? fields["name"])
            try r.setDescription(fields["description"])
            try r.setVisibility(fields["visibility"])
            try r.setSHA256(fields["sha256"])
            try r.setClip(start: try number("start_s"), duration: try number("duration_s"), prefix: "")
            try r.setPriority(text: fields["priority"])
            try r.setNotifyURL(fields["notify_url"])
            return r
        }
    }

    // MARK: HEAD /api/uploads/{id}: the offset to resume from

    @Sendable func head(_ request: Request, context: some ChannelRequestContext & AuthenticatedRequestContext) async throws -> Response {
        try await Self.tus(request) {
            let upload = try await lookup(request, context)
            var headers: HTTPFields = [.uploadLength: String(upload.uploadLength), .cacheControl: "no-store", .videoID: upload.videoID]
            if !upload.metadata.isEmpty { headers[.uploadMetadata] = upload.metadata }
            switch upload.state {
            case .complete:
                headers[.uploadOffset] = String(upload.uploadLength)
            case .receiving:
                // A PATCH still running (its client gone, say) first makes what it received durable.
                guard await active.waitIdle(upload.videoID, seconds: 5) else {
                    throw APIError(Tus.locked, "locked", "upload \(upload.videoID) is receiving a chunk; try again")
                }
                let area = self.area, id = upload.videoID
                guard let offset = try await pool.runIfActive({ area.offset(id) }) else { throw Self.gone(upload) }
                headers[.uploadOffset] = String(offset)
                headers[.uploadExpires] = HTTPDate.string(Timestamp.date(upload.expiresAt) ?? Date())
            case .expired, .terminated, .lost:
                throw Self.gone(upload)
            }
            return Response(status: .ok, headers: headers)
        }
    }

    // MARK: PATCH /api/uploads/{id}: a chunk at Upload-Offset

    @Sendable func patch(_ request: Request, context: some ChannelRequestContext & AuthenticatedRequestContext) async throws -> Response {
        try await Self.tus(request) {
            let (upload, expected, checksum) = try await refusingUnreadBody(request) { () throws -> (UploadRow, Int64, TusChecksum?) in
                let upload = try await lookup(request, context)
                switch upload.state {
                case .receiving: break
                case .complete: throw APIError(.conflict, "conflict", "upload \(upload.videoID) is complete; its offset is \(upload.uploadLength)")
                case .expired, .terminated, .lost: throw Self.gone(upload)
                }
                guard HeaderParameters.parse(request.headers[.contentType] ?? "").value.lowercased() == Tus.offsetContentType else {
                    throw APIError(.unsupportedMediaType, "unsupported_media_type", "PATCH takes Content-Type \(Tus.offsetContentType)")
                }
                guard let text = request.headers[.uploadOffset], let offset = Int64(text), offset >= 0 else {
                    throw APIError.badRequest("PATCH needs Upload-Offset, an integer ≥ 0")
                }
                return (upload, offset, try TusChecksum.parse(request.headers[.uploadChecksum]))
            }
            let id = upload.videoID
            let offset = try await exclusively(id) {
                try await receive(upload, at: expected, request: request, checksum: checksum, context: context)
            }
            var headers: HTTPFields = [.uploadOffset: String(offset), .videoID: id]
            if offset < upload.uploadLength {
                headers[.uploadExpires] = HTTPDate.string(Date().addingTimeInterval(expirySeconds))
            } else {
                headers[.location] = "/api/videos/\(id)/status"
            }
            return Response(status: .noContent, headers: headers)
        }
    }

    // MARK: DELETE /api/uploads/{id} (termination)

    @Sendable func terminate(_ request: Request, context: some ChannelRequestContext & AuthenticatedRequestContext) async throws -> Response {
        try await Self.tus(request) {
            let upload = try await refusingUnreadBody(request) { try await lookup(request, context) }
            switch upload.state {
            case .receiving: break
            case .complete: throw APIError(.conflict, "conflict", "upload \(upload.videoID) is complete: it is video \(upload.videoID) now")
            case .expired, .terminated, .lost: throw Self.gone(upload)
            }
            let id = upload.videoID, area = self.area
            try await exclusively(id) {
                guard let lock = try await pool.runIfActive({ DirectoryLock(path: area.dir(id)) }) else {
                    throw APIError(Tus.locked, "locked", "upload \(id) is busy in another process")
                }
                let received = try await pool.runIfActive { area.offset(id) } ?? 0
                try await end(upload, .terminated, reason: .uploadTerminated,
                              error: "upload terminated by the client after \(received) of \(upload.uploadLength) bytes", logger: context.logger)
                withExtendedLifetime(lock) {}
            }
            return Response(status: .noContent, headers: [.videoID: id])
        }
    }

    // MARK: POST /api/uploads/{id} with X-HTTP-Method-Override (clients behind proxies that pass only GET/POST)

    @Sendable func overridden(_ request: Request, context: some ChannelRequestContext & AuthenticatedRequestContext) async throws -> Response {
        switch request.headers[.httpMethodOverride]?.uppercased() {
        case "PATCH": return try await patch(request, context: context)
        case "DELETE": return try await terminate(request, context: context)
        case "HEAD": return try await head(request, context: context)
        default:
            throw APIError.refusal(.badRequest, "bad_request", "POST on an upload needs X-HTTP-Method-Override: PATCH, DELETE or HEAD")
        }
    }

    // MARK: shared

    /// Auth (401/403 as every upload route), `Tus-Resumable` (412), the upload (404, 403 when it is another user's).
    private func lookup(_ request: Request, _ context: some AuthenticatedRequestContext) async throws -> UploadRow {
        let user = try context.requireUploader()
        try Self.requireVersion(request)
        let raw = context.parameters.get("video_id") ?? ""
        guard let id = VideoID.parse(raw), let upload = try await journal.resumableUpload(id) else {
            throw APIError(.notFound, "not_found", "no upload with id \(raw.prefix(80))")
        }
        guard user.isAdmin || upload.userID == user.id.map(String.init) else {
            throw APIError(.forbidden, "forbidden", "upload \(id) belongs to another user")
        }
        return upload
    }

    static func requireVersion(_ request: Request) throws(APIError) {
        guard request.headers[.tusResumable] == Tus.version else {
            throw APIError(.preconditionFailed, "unsupported_tus_version",
                           "Tus-Resumable must be \(Tus.version), got '\(request.headers[.tusResumable]?.prefix(20) ?? "")'",
                           headers: [.tusVersion: Tus.version])
        }
    }

    static func gone(_ upload: UploadRow) -> APIError {
        APIError(.gone, "gone", "upload \(upload.videoID) \(upload.state == .receiving ? "has lost its data" : "has \(upload.state)"); its bytes were removed")
    }

    /// Every tus answer carries `Tus-Resumable`; a `HEAD` answer never has a body, errors included.
    static func tus(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        do {
            var response = try await body()
            response.headers[.tusResumable] = Tus.version
            return response
        } catch var error as APIError {
            error.headers[.tusResumable] = Tus.version
            guard request.method == .head else { throw error }
            return Response(status: error.status, headers: error.headers)
        }
    }

    /// Runs `body` as the only request working on upload `id` in this process; a second one meanwhile is 423.
    func exclusively<T>(_ id: String, _ body: () async throws -> T) async throws -> T {
        guard await active.begin(id) else {
            throw APIError.refusal(Tus.locked, "locked", "upload \(id) is busy with another request; try again when it ends")
        }
        do {
            let result = try await body()
            await active.end(id)
            return result
        } catch {
            await active.end(id)
            throw error
        }
    }

    func expiry(from now: Date = Date()) -> String { Timestamp.string(now.addingTimeInterval(expirySeconds)) }
}
