import Foundation
import GRDB
import HTTPKit
import Hummingbird
import Store
import Synchronization

/// A `/status` answer ready to send: the JSON body and its strong ETag.
public struct StatusAnswer: Sendable {
    public let body: ByteBuffer
    public let tag: String

    /// Encodes `status` whole: the uncached path (PostgreSQL nodes, `status_cache_entries = 0`).
    public init(_ status: StatusResponse) throws {
        let bytes = try JSONEncoder.api.encode(status)
        body = ByteBuffer(bytes: bytes)
        tag = EntityTag.strong(for: bytes)
    }

    init(body: ByteBuffer, tag: String) {
        self.body = body
        self.tag = tag
    }
}

/// The `/status` answers of recently asked jobs, pre-encoded, so a poll costs a dictionary look-up instead of a
/// query, a decode and a JSON encode. Never stale: every entry belongs to one `Version` of the db, and a different
/// version (any commit by any connection: the daemon's writer, an `inboxd` command, admin SQL through `sqlite3`)
/// empties the snapshot before the next look-up (`StatusStore.statusAnswer` says how soon each kind is seen).
/// Bounded: two generations of at most `capacity / 2` entries each (an approximate LRU: a hit in the old generation
/// moves to the young one; a full young generation becomes the old one and the oldest is dropped).
public final class StatusSnapshot: Sendable {
    public let capacity: Int
    private let state = Mutex(State())
    private let hitCount = Atomic<Int>(0)
    private let missCount = Atomic<Int>(0)

    private struct State {
        var version: Version?
        var young: [String: Entry] = [:]
        var old: [String: Entry] = [:]
    }

    public init(capacity: Int) {
        precondition(capacity >= 2, "a snapshot of fewer than 2 entries is no snapshot: use none")
        self.capacity = capacity
    }

    /// Look-ups answered from the snapshot and from the db, since start.
    public var hits: Int { hitCount.load(ordering: .relaxed) }
    public var misses: Int { missCount.load(ordering: .relaxed) }
    public var count: Int { state.withLock { $0.young.count + $0.old.count } }

    /// The entry of `id` if it was read at db `version`; a newer version drops every entry first.
    func entry(_ id: String, version: Version) -> Entry? {
        let found: Entry? = state.withLock { s in
            if s.version != version {
                // Both counters only grow: a request that took its version before a newer one was seen
                // reads the db and keeps nothing, rather than emptying the newer entries.
                if let newer = s.version, version < newer { return nil }
                s.version = version
                s.young.removeAll(keepingCapacity: true)
                s.old.removeAll()
                return nil
            }
            if let e = s.young[id] { return e }
            guard let e = s.old.removeValue(forKey: id) else { return nil }
            Self.insert(e, for: id, into: &s, half: capacity / 2)
            return e
        }
        if found == nil { missCount.add(1, ordering: .relaxed) } else { hitCount.add(1, ordering: .relaxed) }
        return found
    }

    /// Keeps `entry`, read after `version` was seen, unless the db has moved on since.
    func store(_ entry: Entry, for id: String, version: Version) {
        state.withLock { s in
            guard s.version == version else { return }
            Self.insert(entry, for: id, into: &s, half: capacity / 2)
        }
    }

    private static func insert(_ entry: Entry, for id: String, into s: inout State, half: Int) {
        if s.young.count >= half, s.young[id] == nil {
            s.old = s.young
            s.young = [:]
        }
        s.young[id] = entry
    }

    /// What the entries were read at: the db's `PRAGMA data_version` (any connection's commits, other processes'
    /// included) and the daemon writer's commits (`CommitCounter`). Both only grow, so a later version is never
    /// smaller in either.
    struct Version: Equatable {
        var data: Int64
        var local: UInt64

        static func < (a: Version, b: Version) -> Bool { a.data < b.data || a.local < b.local }
    }

    /// One job's answer split around the value of `eta_s`, the one key that changes with the clock (a running
    /// job's estimate); the rest is fixed until the row changes.
    struct Entry: Sendable {
        /// The whole answer when the ETA does not depend on the time.
        let fixed: StatusAnswer?
        let head: ByteBuffer
        let tail: ByteBuffer
        let headHash: EntityTag.FNV
        let status: JobStatus
        let progress: Double
        let started: Date?

        /// From a row of `VideoQueries.statusColumns`.
        init(row: Row) throws {
            var response = try StatusResponse(row: row)
            response.etaS = nil
            let bytes = Array(try JSONEncoder.api.encode(response))
            status = response.status
            progress = response.progress
            started = (row["started_at"] as String?).flatMap(Timestamp.date)
            // Keys are sorted and quotes inside strings escaped, so this is the key's one occurrence.
            let marker = Array(#""eta_s":null"#.utf8)
            guard let at = Self.find(marker, in: bytes) else { throw StatusSnapshotError.noETAKey }
            let valueAt = at + marker.count - 4
            head = ByteBuffer(bytes: bytes[..<valueAt])
            tail = ByteBuffer(bytes: bytes[(at + marker.count)...])
            var hash = EntityTag.FNV()
            hash.add(bytes[..<valueAt])
            headHash = hash
            // Not running (or no progress yet): the estimate is a constant, so the whole answer is too.
            fixed = ETA.dependsOnTime(status: status, progress: progress, started: started) ? nil
                : StatusAnswer.assemble(eta: ETA.seconds(status: status, progress: progress, started: started),
                                        head: head, tail: tail, headHash: hash)
        }

        func answer(now: Date) -> StatusAnswer {
            if let fixed { return fixed }
            return StatusAnswer.assemble(eta: ETA.seconds(status: status, progress: progress, started: started, now: now),
                                         head: head, tail: tail, headHash: headHash)
        }

        private static func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
            guard bytes.count >= needle.count else { return nil }
            for i in 0...(bytes.count - needle.count) where bytes[i] == needle[0] {
                if bytes[i..<(i + needle.count)].elementsEqual(needle) { return i }
            }
            return nil
        }
    }
}

enum StatusSnapshotError: Error, CustomStringConvertible {
    case noETAKey
    var description: String { "the status answer has no eta_s key to fill in" }
}

extension StatusAnswer {
    /// `head` + the ETA as `JSONEncoder` writes it + `tail`, tagged as `EntityTag.strong(for:)` would tag it.
    static func assemble(eta: Double?, head: ByteBuffer, tail: ByteBuffer, headHash: EntityTag.FNV) -> StatusAnswer {
        let text = jsonNumber(eta)
        var body = ByteBuffer()
        body.reserveCapacity(head.readableBytes + text.utf8.count + tail.readableBytes)
        body.writeImmutableBuffer(head)
        body.writeString(text)
        body.writeImmutableBuffer(tail)
        var hash = headHash
        hash.add(text.utf8)
        tail.withUnsafeReadableBytes { hash.add($0) }
        return StatusAnswer(body: body, tag: hash.tag)
    }

    /// A number as Foundation's `JSONEncoder` writes it (`description`, without a trailing `.0`), or `null`.
    static func jsonNumber(_ value: Double?) -> String {
        guard let value else { return "null" }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }
}
