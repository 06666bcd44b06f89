import HTTPKit
import Hummingbird
import Multipart
import NIOCore
import NIOPosix

/// Receives a `multipart/form-data` upload: the `video` and `thumbnail` file parts stream into dot-named spool files in
/// `incoming/`, the small text fields are kept in memory (at most 64 KiB together), other parts are skipped. The raw
/// body is counted against `max_upload_bytes` as it arrives. On any failure, including a client that goes away
/// mid-body, every spool file is removed before the error is rethrown.
struct MultipartUpload {
    struct SpooledPart: Sendable {
        var tempPath: String
        var filename: String?
        var contentType: String?
        var bytes: Int64
    }

    static let textFields: Set<String> = ["title", "description", "visibility", "notify_url", "priority"]
    static let maxFieldBytes = 64 * 1024

    private(set) var video: SpooledPart?
    private(set) var thumbnail: SpooledPart?
    private(set) var fields: [String: String] = [:]
    private(set) var receivedBytes: Int64 = 0

    private enum Current {
        case none
        case file(name: String, headers: MultipartPartHeaders, spool: SpoolFile)
        case field(name: String, value: ByteBuffer)
        case skip
    }

    private let videoID: String
    private let incoming: String
    private let pool: NIOThreadPool
    private var scanner: MultipartScanner
    private var current: Current = .none
    private var fieldBytes = 0

    init(videoID: String, boundary: String, incoming: String, pool: NIOThreadPool) {
        self.videoID = videoID
        self.incoming = incoming
        self.pool = pool
        self.scanner = MultipartScanner(boundary: boundary)
    }

    mutating func receive(_ body: RequestBody, limits: ReceiverLimits) async throws {
        do {
            for try await chunk in body {
                receivedBytes += Int64(chunk.readableBytes)
                if receivedBytes > limits.maxUploadBytes { throw limits.tooLarge(after: receivedBytes) }
                var events: [MultipartScanner.Event] = []
                try scanner.feed(chunk) { events.append($0) }
                for event in events { try await handle(event) }
            }
            try scanner.finish()
        } catch {
            await discard()
            switch error {
            case let e as MultipartError: throw APIError.refusal(.badRequest, "malformed_multipart", e.description)
            case let e as SpoolError: throw e.httpFailure
            default: throw error
            }
        }
    }

    /// Removes every spool file this upload created (also the committed-but-unused ones on a later failure).
    func discard() async {
        if case .file(_, _, let spool) = current { await spool.discard() }
        for part in [video, thumbnail].compactMap({ $0 }) {
            _ = try? await pool.runIfActive { unlink(part.tempPath) }
        }
    }

    private mutating func handle(_ event: MultipartScanner.Event) async throws {
        switch event {
        case .partBegin(let headers):
            current = try await begin(headers)
        case .body(let piece):
            switch current {
            case .file(let name, let headers, var spool):
                current = .none  // keep the spool uniquely referenced while it grows
                do { try await spool.append(piece) } catch {
                    await spool.discard()
                    throw error
                }
                current = .file(name: name, headers: headers, spool: spool)
            case .field(let name, var value):
                fieldBytes += piece.readableBytes
                guard fieldBytes <= Self.maxFieldBytes else {
                    throw APIError.refusal(.badRequest, "field_too_large", "text fields exceed \(Self.maxFieldBytes) bytes together")
                }
                var piece = piece
                value.writeBuffer(&piece)
                current = .field(name: name, value: value)
            case .none, .skip:
                break
            }
        case .partEnd:
            try await end()
        }
    }

    private mutating func begin(_ headers: MultipartPartHeaders) async throws -> Current {
        let type = headers.contentType.map { HeaderParameters.parse($0).value.lowercased() }
        switch headers.name {
        case "video":
            guard video == nil else { throw APIError.badRequest("more than one 'video' part").closing }
            guard type == nil || type == "application/octet-stream" || type!.hasPrefix("video/") else {
                throw APIError.refusal(.unsupportedMediaType, "unsupported_media_type",
                                  "'video' part has Content-Type \(type!); expected video/* or application/octet-stream")
            }
        case "thumbnail":
            guard thumbnail == nil else { throw APIError.badRequest("more than one 'thumbnail' part").closing }
            guard type == nil || type == "application/octet-stream" || type!.hasPrefix("image/") else {
                throw APIError.refusal(.unsupportedMediaType, "unsupported_media_type",
                                  "'thumbnail' part has Content-Type \(type!); expected image/* or application/octet-stream")
            }
        case let name where Self.textFields.contains(name):
            guard fields[name] == nil else { throw APIError.badRequest("more than one '\(name)' field").closing }
            return .field(name: name, value: ByteBuffer())
        default:
            return .skip
        }
        let spool = try await SpoolFile.create(at: "\(incoming)/.upload-\(videoID).\(headers.name)", pool: pool)
        return .file(name: headers.name, headers: headers, spool: spool)
    }

    private mutating func end() async throws {
        let finished = current
        current = .none
        switch finished {
        case .file(let name, let headers, var spool):
            do { try await spool.finish() } catch {
                await spool.discard()
                throw error
            }
            let part = SpooledPart(tempPath: spool.path, filename: headers.filename, contentType: headers.contentType, bytes: spool.bytesWritten)
            if name == "video" { video = part } else { thumbnail = part }
        case .field(let name, let value):
            guard let text = value.getString(at: value.readerIndex, length: value.readableBytes),
                  text.utf8.elementsEqual(value.readableBytesView) else {
                throw APIError.badRequest("field '\(name)' is not valid UTF-8").closing
            }
            fields[name] = text
        case .none, .skip:
            break
        }
    }
}
