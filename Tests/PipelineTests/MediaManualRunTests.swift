import Foundation
import Pipeline
import Testing

/// Not part of the suite: runs one conversion of a file of your choosing, for timing and inspection before
/// `inboxd convert` exists. `INBOXD_CONVERT_INPUT=in.mp4 INBOXD_CONVERT_OUTPUT=/tmp/out [INBOXD_CONVERT_CLIP=5,10]
/// swift test --filter MediaManualRun`.
@Suite("Manual conversion run", .enabled(if: ProcessInfo.processInfo.environment["INBOXD_CONVERT_INPUT"] != nil))
struct MediaManualRunTests {
    @Test("converts INBOXD_CONVERT_INPUT into INBOXD_CONVERT_OUTPUT and prints the time taken")
    func convert() async throws {
        let env = ProcessInfo.processInfo.environment
        let input = try #require(env["INBOXD_CONVERT_INPUT"])
        let output = try #require(env["INBOXD_CONVERT_OUTPUT"])
        let clip = env["INBOXD_CONVERT_CLIP"].flatMap { value -> ClipRange? in
            let parts = value.split(separator: ",").compactMap { Double($0) }
            return parts.first.map { ClipRange(start: $0, duration: parts.count > 1 ? parts[1] : nil) }
        }
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await convertOnThread(input, to: output, clip: clip)
        print("convert: \(result.mode.rawValue) \(result.rendition) \(result.durationSeconds) s in \(clock.now - start)")
    }
}
