import Foundation
import HTTPKit
import Hummingbird
import Logging
import NIOCore
import Store

/// `GET /api/videos/{video_id}/stream`: Server-Sent Events with the job's status JSON (as `/status` returns it) each
/// time its status, phase or progress changes, until the job is ready or failed (`StatusFeed.Video`, shared with the
/// WebSocket routes). A `: ping` comment goes out every `heartbeat`, so proxies keep the connection and a gone
/// client is noticed; a closed connection ends the loop at once.
public enum EventStreamRoutes {
    public static let heartbeat: Duration = .seconds(10)

    public static func register<Context: RequestContext>(on router: Router<Context>, store: some StatusFeedStore) {
        router.get("/api/videos/{video_id}/stream") { request, context -> Response in
            let id = try APIError.validateID(try context.parameters.require("video_id"))
            guard let first = try await store.video(id) else { throw APIError.notFound(id) }
            let logger = context.logger
            let body = ResponseBody { writer in
                do {
                    try await request.body.consumeWithCancellationOnInboundClose { _ in
                        try await stream(id: id, first: first, store: store, writer: &writer)
                    }
                } catch is CancellationError {
                    logger.debug("status stream closed by client", metadata: ["job.id": "\(id)"])
                    return
                }
                try await writer.finish(nil)
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: body)
        }
    }

    private static func stream(id: String, first: VideoRow, store: some StatusFeedStore, writer: inout any ResponseBodyWriter) async throws {
        var feed = StatusFeed.Video(id: id, first: first, store: store)
        var sequence = 0
        let clock = ContinuousClock()
        var lastWrite = clock.now
        try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
        while let changes = try await feed.next() {
            for status in changes {
                sequence += 1
                let json = try JSONEncoder.api.encode(status)
                try await writer.write(ByteBuffer(string: "id: \(sequence)\nevent: status\ndata: \(String(decoding: json, as: UTF8.self))\n\n"))
                lastWrite = clock.now
            }
            if clock.now - lastWrite >= heartbeat {
                try await writer.write(ByteBuffer(string: ": ping\n\n"))
                lastWrite = clock.now
            }
        }
    }
}
