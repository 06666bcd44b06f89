import Foundation

/// The embedded default: publishes into `<outputRoot>/videos/<id>/`, which the daemon serves over HTTP. Files go in
/// one by one while the job converts (`LocalLiveTarget`), each renamed into place.
public struct LocalPublisher: Publisher {
    public let outputRoot: String
    public let publicBaseURL: String

    public init(outputRoot: String, publicBaseURL: String) {
        self.outputRoot = outputRoot
        self.publicBaseURL = publicBaseURL.hasSuffix("/") ? String(publicBaseURL.dropLast()) : publicBaseURL
    }

    public func liveTarget(videoID: String) throws(PipelineError) -> any LiveTarget {
        LocalLiveTarget(root: "\(outputRoot)/videos/\(videoID)", baseURL: "\(publicBaseURL)/videos/\(videoID)")
    }
}
