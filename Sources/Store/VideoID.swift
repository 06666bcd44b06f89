import Foundation

/// The one check for a job's `video_id`. New jobs get a lowercase UUID; rows carried over from the old web app's
/// db may hold other short tokens (e.g. integers), which can still be looked up but never given to a new job.
public enum VideoID {
    /// A fresh id for a new job.
    public static func make() -> String { UUID().uuidString.lowercased() }

    /// `text` as a new job's id: a UUID in any case (`8-4-4-4-12` hex digits, as `UUID(uuidString:)` takes them),
    /// returned lowercase; nil for anything else. Checked byte by byte: `UUID(uuidString:)` goes through `sscanf`,
    /// which cost a measurable share of every `/status` poll.
    public static func parse(_ text: String) -> String? {
        guard text.utf8.count == 36 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(36)
        for (i, c) in text.utf8.enumerated() {
            switch (i, c) {
            case (8, 45), (13, 45), (18, 45), (23, 45): bytes.append(c)
            case (8, _), (13, _), (18, _), (23, _): return nil
            case (_, 48...57), (_, 97...102): bytes.append(c)
            case (_, 65...70): bytes.append(c + 32)
            default: return nil
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `text` as a key to look a job up by: a UUID (lowercased) or a legacy token of 1–64 ASCII letters, digits
    /// and '-'; nil for anything else.
    public static func lookupKey(_ text: String) -> String? {
        if let id = parse(text) { return id }
        let legacy = !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45
        }
        return legacy ? text : nil
    }
}
