import Foundation

/// The embedded default: publishes into `<outputRoot>/videos/<id>/`, which the daemon serves over HTTP.
/// The job tree is copied under a dot-name and renamed into place, so a reader sees all of it or none of it.
public struct LocalPublisher: Publisher {
    public let outputRoot: String
    public let publicBaseURL: String

    public init(outputRoot: String, publicBaseURL: String) {
        self.outputRoot = outputRoot
        self.publicBaseURL = publicBaseURL.hasSuffix("/") ? String(publicBaseURL.dropLast()) : publicBaseURL
    }

    public func publish(directory: String, videoID: String, control: JobControl) async throws -> PublishedVideo {
        let root = outputRoot
        try await DedicatedThread.run(name: "inboxd-publish-local") {
            try Self.install(directory: directory, into: root + "/videos", name: videoID, control: control)
        }
        let base = "\(publicBaseURL)/videos/\(videoID)"
        let hasThumb = FileManager.default.fileExists(atPath: directory + "/thumbnail.jpg")
        return PublishedVideo(videoURL: base + "/master.m3u8", thumbnailURL: hasThumb ? base + "/thumbnail.jpg" : nil)
    }

    public func liveTarget(videoID: String) throws(PipelineError) -> any LiveTarget {
        LocalLiveTarget(root: "\(outputRoot)/videos/\(videoID)", baseURL: "\(publicBaseURL)/videos/\(videoID)")
    }

    private static func install(directory: String, into parent: String, name: String, control: JobControl) throws {
        let fm = FileManager.default
        let nonce = UUID().uuidString.prefix(8)
        let staging = "\(parent)/.\(name).new-\(nonce)"
        let old = "\(parent)/.\(name).old-\(nonce)"
        let target = "\(parent)/\(name)"
        do {
            try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
            try fm.copyItem(atPath: directory, toPath: staging)
            control.progressed(0.9)
            if fm.fileExists(atPath: target) { try fm.moveItem(atPath: target, toPath: old) }
            guard rename(staging, target) == 0 else {
                let code = errno
                throw code == ENOSPC || code == EDQUOT ? PipelineError.noSpace(path: target)
                    : PipelineError.publish(target: target, reason: String(cString: strerror(code)))
            }
            try? fm.removeItem(atPath: old)
            control.progressed(1)
        } catch let e as PipelineError {
            try? fm.removeItem(atPath: staging)
            throw e
        } catch {
            try? fm.removeItem(atPath: staging)
            if case .noSpace = PipelineError.io(path: target, "publish", error) { throw PipelineError.noSpace(path: target) }
            throw PipelineError.publish(target: target, reason: (error as NSError).localizedDescription)
        }
    }
}
