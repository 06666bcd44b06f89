import Foundation
import Logging

/// One signed `ListObjectsV2` (`max-keys=1`) on the configured bucket, without retries: proves the endpoint is
/// reachable, the bucket exists and the credentials sign. Blocking; for `inboxd doctor`.
public enum S3BucketCheck {
    /// Nil when the bucket answered 2xx; else why not, with S3's hint (wrong secret, unknown key, no bucket).
    public static func problem(_ configuration: S3Configuration, logger: Logger) -> String? {
        do {
            let client = try S3Client(configuration: configuration, logger: logger)
            let easy = try CurlEasy()
            let request = S3Request(method: "GET", key: "", query: [("list-type", "2"), ("max-keys", "1")])
            switch client.attemptOnce(request, on: easy, control: JobControl()) {
            case .done: return nil
            case .transient(let reason), .fatal(.publish(_, let reason)): return "ListObjectsV2 on \(client.bucketURL): \(reason)"
            case .fatal(let error): return error.description
            }
        } catch {
            return error.description
        }
    }
}
