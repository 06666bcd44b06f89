import Foundation
import Store

/// What a rejected drop's row would say, written beside its files in `failed/<id>/` before the row is inserted.
/// If the db cannot take the row (disk full), recovery inserts it later from this note, so no drop ever sits in
/// `failed/` unseen by the status API and `inboxd retry`. Removed once the row exists.
struct FailureNote: Codable, Sendable {
    static let fileName = ".inboxd-failure.json"

    var row: VideoRow
    var message: String
    var reason: FailureReason

    func write(into directory: String) throws {
        let data = try JSONEncoder().encode(self)
        try FileSystem.writeFile(directory + "/" + Self.fileName, Array(data), durable: true)
    }

    static func read(from directory: String) -> FailureNote? {
        guard let bytes = try? FileSystem.readSmallFile(directory + "/" + fileName, limit: 1 << 20) else { return nil }
        return try? JSONDecoder().decode(FailureNote.self, from: Data(bytes))
    }

    static func remove(from directory: String) {
        unlink(directory + "/" + fileName)
    }
}
