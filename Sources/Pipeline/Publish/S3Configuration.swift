import Foundation

/// The `[s3]` config table. Object keys are `<prefix>/videos/<id>/…` (no leading part when `prefix` is empty).
public struct S3Configuration: Sendable, Equatable {
    /// `http://127.0.0.1:8333` or `https://s3.eu-west-1.amazonaws.com`; without a scheme, https is assumed.
    public var endpoint: String
    public var region: String = "us-east-1"
    public var bucket: String
    public var prefix: String = ""
    /// `https://endpoint/bucket/key` when true, `https://bucket.endpoint/key` when false.
    public var pathStyle: Bool = true
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// Base of `video_url`/`thumbnail_url`; defaults to the path-style URL of the bucket.
    public var publicBaseURL: String?
    /// Uploads in flight at once, each on its own thread with its own connection.
    public var parallelism: Int = 8
    /// Multipart part size; grown when a file would need more than 10 000 parts, never below S3's 5 MiB minimum.
    public var partSizeBytes: Int64 = 16 << 20
    public var multipartThresholdBytes: Int64 = 64 << 20
    /// Tries per request for transient failures (connection refused/reset, timeouts, 5xx, 429/SlowDown).
    /// With the default backoff, 7 tries wait about 12–24 s in total: enough to ride out an S3 restart.
    public var maxAttempts: Int = 7
    /// First retry delay; doubled per retry up to `retryMaxDelaySeconds`, each delay jittered to 50–100 %.
    public var retryBaseDelaySeconds: Double = 0.5
    public var retryMaxDelaySeconds: Double = 8
    public var connectTimeoutSeconds: Double = 10
    /// Upper bound for one request (one object or one part).
    public var requestTimeoutSeconds: Double = 300

    public init(endpoint: String, bucket: String, accessKeyID: String, secretAccessKey: String) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    /// Fills empty credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`
    /// (a session token only when the keys came from the environment too).
    public func withEnvironmentCredentials(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> S3Configuration {
        var c = self
        if c.accessKeyID.isEmpty, c.secretAccessKey.isEmpty,
            let key = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"]
        {
            c.accessKeyID = key
            c.secretAccessKey = secret
            if c.sessionToken == nil, let token = environment["AWS_SESSION_TOKEN"], !token.isEmpty { c.sessionToken = token }
        }
        return c
    }
}
