import Foundation
import Pipeline
import TestSupport

/// Runs a conversion on a dedicated thread, as the daemon does.
func convertOnThread(
    _ input: String, to output: String, clip: ClipRange? = nil, options: HLSOptions = HLSOptions(),
    control: JobControl = JobControl()
) async throws -> HLSResult {
    try await DedicatedThread.run(name: "test-convert") {
        try HLSConverter(options: options).convert(input: input, outputDirectory: output, clip: clip, control: control)
    }
}

/// The error a call threw, as a PipelineError (nil when it succeeded or threw something else).
func thrownPipelineError(_ body: () throws(PipelineError) -> Void) -> PipelineError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

func mediaDirectoryListing(_ directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
}
