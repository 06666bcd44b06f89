/// One file of a job directory to publish while the job runs.
public struct LiveFile: Sendable, Equatable {
    /// Where the file is now (scratch).
    public var path: String
    /// Its name under the video's prefix, e.g. `720p/seg_00003.ts`.
    public var relativePath: String
    /// A playlist that will still change (EVENT, or a master written before the end): caches keep it ~1 s.
    public var changing: Bool

    public init(path: String, relativePath: String, changing: Bool = false) {
        self.path = path
        self.relativePath = relativePath
        self.changing = changing
    }
}

/// Where one video's files go while it converts (`videos/<id>/…` of a local dir or an S3 bucket). Blocking: called
/// from the live publisher's dedicated thread.
public protocol LiveTarget: Sendable {
    /// The public URL of `relativePath`.
    func url(of relativePath: String) -> String
    /// Publishes `files` (possibly in parallel); each replaces any earlier object of its name at once, so a reader
    /// sees the old object or the new one, never a part.
    func put(_ files: [LiveFile], control: JobControl) throws(PipelineError)
    /// The published text of `relativePath` (a playlist), nil when nothing is published under it.
    func publishedText(_ relativePath: String, control: JobControl) throws(PipelineError) -> String?
    /// Everything is published (logs a summary).
    func finished()
}

extension LiveTarget {
    public func finished() {}
}
