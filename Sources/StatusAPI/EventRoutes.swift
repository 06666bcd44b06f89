import Foundation
import GRDB
import HTTPKit
import Hummingbird
import Store

/// `GET /api/videos/{video_id}/events`: the job's audit log, oldest first. No auth, like the job's status.
public enum EventRoutes {
    public struct EventList: ResponseEncodable {
        public var video_id: String
        public var events: [RowJSON]
    }

    public static func register<Context: RequestContext>(on router: Router<Context>, store: some StatusReading) {
        router.get("/api/videos/{video_id}/events") { _, context -> EventList in
            let id = try APIError.validateID(try context.parameters.require("video_id"))
            let events = try await store.events(id)
            guard let events else { throw APIError.notFound(id) }
            return EventList(video_id: id, events: events)
        }
    }
}
