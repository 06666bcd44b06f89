import Foundation
import Logging
import Pipeline
import Synchronization
import Testing
import TestSupport

/// Keeps every log record in memory.
final class LibAVLogCapture: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let records = Mutex<[Record]>([])

    var all: [Record] { records.withLock { $0 } }

    func logger() -> Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: LibAVLogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).mapValues { "\($0)" }
            log.records.withLock { $0.append(Record(level: event.level, message: "\(event.message)", metadata: fields)) }
        }
    }
}

@Suite("libav log routing")
struct MediaLogTests {
    @Test("libav's error about a truncated MP4 arrives as one whole line at error level, with its prefix")
    func routesWholeLines() throws {
        let media = try MediaFactory()
        let path = try media.truncated()
        let captured = LibAVLogCapture()
        LibAVLog.install(logger: captured.logger())
        _ = try? MediaProbe.probe(path: path)
        let lines = captured.all.filter { $0.metadata["libav.message"]?.contains("moov atom not found") == true }
        #expect(lines.count == 1)
        #expect(lines.first?.level == .error)
        #expect(lines.first?.metadata["libav.message"]?.hasPrefix("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x") == true)
        #expect(lines.first?.metadata["libav.message"]?.hasSuffix("\n") == false)
        // Informational chatter ("Opening '…' for writing") stays out.
        #expect(captured.all.allSatisfy { $0.level >= .warning })
    }
}
