/// A cut of the input before conversion: from `start` seconds, `duration` seconds long (to the end when nil).
public struct ClipRange: Sendable, Equatable {
    public var start: Double
    public var duration: Double?

    public init(start: Double, duration: Double?) {
        self.start = start
        self.duration = duration
    }
}
