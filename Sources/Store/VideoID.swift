import Foundation

/// The one check for a job's `video_id`. New jobs get a lowercase UUID; rows carried over from the old web app's
/// db may hold other short tokens (e.g. integers), which can still be looked up but never given to a new job.
public enum VideoID {
    /// A fresh id for a new job.
    public static func make() -> String { UUID().uuidString.lowercased() }

    /// `text` as a new job's id: a UUID in any case, returned lowercase; nil for anything else.
    public static func parse(_ text: String) -> String? {
        UUID(uuidString: text).map { $0.uuidString.lowercased() }
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
