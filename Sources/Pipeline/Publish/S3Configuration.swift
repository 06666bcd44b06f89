/// The `[s3]` config table. Object keys are `<prefix>/videos/<id>/…` (no leading part when `prefix` is empty).
public struct S3Configuration: Sendable, Equatable {
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
    public var parallelism: Int = 8
    public var partSizeBytes: Int64 = 16 << 20
    public var multipartThresholdBytes: Int64 = 64 << 20
    public var maxAttempts: Int = 5
    public var connectTimeoutSeconds: Double = 10
    public var requestTimeoutSeconds: Double = 300

    public init(endpoint: String, bucket: String, accessKeyID: String, secretAccessKey: String) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }
}
