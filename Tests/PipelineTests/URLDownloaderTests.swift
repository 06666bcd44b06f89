import Foundation
import Logging
import Testing
import TestSupport

@testable import Pipeline

/// URL ingest against a real HTTP server on 127.0.0.1 (which the guard refuses unless allowed).
@Suite("URL ingest downloader")
struct URLDownloaderTests {
    let server: HTTPFixtureServer
    let scratch: String
    let clip: Data

    init() throws {
        scratch = NSTemporaryDirectory() + "inboxd-url-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: scratch + "/www", withIntermediateDirectories: true)
        clip = try #require(FileHandle(forReadingAtPath: "/dev/urandom")?.readData(ofLength: 300_000))
        try clip.write(to: URL(fileURLWithPath: scratch + "/www/clip.mp4"))
        server = try HTTPFixtureServer(root: scratch + "/www")
    }

    private func downloader(_ change: (inout URLIngestConfiguration) -> Void = { _ in }) -> URLDownloader {
        var c = URLIngestConfiguration()
        c.allow = ["127.0.0.1"]
        c.resolver = .direct
        change(&c)
        return URLDownloader(configuration: c, logger: Logger(label: "inboxd.test.url"))
    }

    private var target: String { scratch + "/download.mp4" }

    private func leftovers() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: scratch)) ?? []).filter { $0 != "www" }
    }

    private func failure(_ body: () throws -> Void) throws -> String {
        do throws(any Error) {
            try body()
        } catch {
            #expect(leftovers().isEmpty, "a failed download leaves nothing behind")
            return "\(error)"
        }
        Issue.record("the download should have failed")
        return ""
    }

    @Test("a media URL downloads byte-identical, through a redirect chain")
    func success() throws {
        let url = "\(server.baseURL)/redirect/3?to=/files/clip.mp4"
        let result = try downloader().download(url: url, to: target, control: JobControl())

        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == clip)
        #expect(result == DownloadResult(bytes: 300_000, finalURL: "\(server.baseURL)/files/clip.mp4", contentType: "video/mp4"))
        #expect(leftovers() == ["download.mp4"])
    }

    @Test("a 404 fails with the status in the error")
    func notFound() throws {
        let text = try failure { _ = try downloader().download(url: "\(server.baseURL)/status/404", to: target, control: JobControl()) }
        #expect(text == "download \(server.baseURL)/status/404: HTTP 404")
    }

    @Test("a server that stops sending is given up as stalled")
    func stalled() throws {
        let text = try failure {
            _ = try downloader { $0.lowSpeedSeconds = 1; $0.lowSpeedBytesPerSecond = 1000 }
                .download(url: "\(server.baseURL)/stall", to: target, control: JobControl())
        }
        #expect(text.contains("stalled after 1024 bytes"))
        #expect(text.contains("too slow"))
    }

    @Test("a body shorter than its Content-Length fails and leaves no partial file")
    func lyingContentLength() throws {
        let text = try failure { _ = try downloader().download(url: "\(server.baseURL)/lie", to: target, control: JobControl()) }
        #expect(text.contains("ended after 10240 of 1000000 bytes"))
    }

    @Test("loopback is refused unless allowed, naming the address and the fix")
    func loopbackRefused() throws {
        let url = "\(server.baseURL)/files/clip.mp4"
        let text = try failure { _ = try downloader { $0.allow = [] }.download(url: url, to: target, control: JobControl()) }
        #expect(text == "URL ingest refused for \(url): 127.0.0.1 is a loopback address (add it to [url_ingest] allow to permit)")
    }

    @Test("a redirect to the metadata address or another loopback address is refused at connect time")
    func redirectToForbiddenAddress() throws {
        for forbidden in ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.2:\(server.port)/files/clip.mp4"] {
            let url = "\(server.baseURL)/redirect/2?to=\(forbidden)"
            let text = try failure { _ = try downloader().download(url: url, to: target, control: JobControl()) }
            #expect(text.hasPrefix("URL ingest refused for \(url): "))
            #expect(text.contains(forbidden.hasPrefix("http://169") ? "169.254.169.254 is a link-local" : "127.0.0.2 is a loopback"))
            #expect(text.contains("(at \(forbidden))"))
        }
    }

    @Test("too many redirects and non-http schemes are refused")
    func redirectLimitsAndSchemes() throws {
        let text = try failure {
            _ = try downloader { $0.maxRedirects = 2 }
                .download(url: "\(server.baseURL)/redirect/3?to=/files/clip.mp4", to: target, control: JobControl())
        }
        #expect(text.contains("more than 2 redirects"))
        let file = try failure { _ = try downloader().download(url: "file:///etc/passwd", to: target, control: JobControl()) }
        #expect(file.contains("only http and https URLs are allowed"))
        let redirected = try failure {
            _ = try downloader().download(url: "\(server.baseURL)/redirect/1?to=file:///etc/passwd", to: target, control: JobControl())
        }
        #expect(redirected.contains("URL ingest refused"))
    }

    @Test("bodies above max_bytes are refused, whether announced or streamed")
    func sizeLimit() throws {
        let announced = try failure {
            _ = try downloader { $0.maxBytes = 1_000_000 }
                .download(url: "\(server.baseURL)/big/5000000", to: target, control: JobControl())
        }
        #expect(announced.contains("larger than the limit of 1000000 bytes ([url_ingest] max_bytes)"))
        let streamed = try failure {
            _ = try downloader { $0.maxBytes = 1_000_000 }
                .download(url: "\(server.baseURL)/chunked/3000000", to: target, control: JobControl())
        }
        #expect(streamed.contains("larger than the limit of 1000000 bytes"))
    }

    @Test("an HTML page is resolved with yt-dlp to its video, which downloads through the same guard")
    func ytDlpResolvesPage() throws {
        try #require(YtDlpResolver.findExecutable("yt-dlp") != nil, "yt-dlp is installed")
        let page = "\(server.baseURL)/page/clip.mp4"
        let result = try downloader { $0.resolver = .auto }.download(url: page, to: target, control: JobControl())

        #expect(result.resolvedPage == page)
        #expect(result.finalURL == "\(server.baseURL)/files/clip.mp4")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == clip)
    }

    @Test("a page with the direct resolver, or without yt-dlp, fails with a clear error")
    func pageWithoutYtDlp() throws {
        let page = "\(server.baseURL)/page/clip.mp4"
        let direct = try failure { _ = try downloader().download(url: page, to: target, control: JobControl()) }
        #expect(direct.contains("is a web page (text/html), not a media file"))
        let missing = try failure {
            _ = try downloader { $0.resolver = .auto; $0.ytDlp = "/nonexistent/yt-dlp" }
                .download(url: page, to: target, control: JobControl())
        }
        #expect(missing.contains("yt-dlp (needed to resolve it) was not found"))
    }

    @Test("yt-dlp is not asked to fetch pages on forbidden addresses")
    func ytDlpGuarded() throws {
        let text = try failure {
            _ = try downloader { $0.allow = []; $0.resolver = .ytDlp }
                .download(url: "\(server.baseURL)/page/clip.mp4", to: target, control: JobControl())
        }
        #expect(text.contains("127.0.0.1 is a loopback address"))
    }
}

@Suite("URL ingest address guard")
struct URLAddressGuardTests {
    @Test("private, loopback, link-local, CGNAT, multicast and mapped addresses are refused; public ones pass")
    func classification() throws {
        let guard_ = try AddressGuard(allow: [])
        for refused in [
            "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
            "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fc00::1", "fd12::1", "fe80::1", "ff02::1",
            "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe",
        ] {
            #expect(guard_.refusal(for: try #require(IPAddress(refused))) != nil, "\(refused)")
        }
        for allowed in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            #expect(guard_.refusal(for: try #require(IPAddress(allowed))) == nil, "\(allowed)")
        }
    }

    @Test("the allow list takes addresses and CIDR blocks, v4 and v6, and rejects nonsense")
    func allowList() throws {
        let guard_ = try AddressGuard(allow: ["10.1.0.0/16", "::1", "fd00::/8"])
        #expect(guard_.refusal(for: IPAddress("10.1.200.3")!) == nil)
        #expect(guard_.refusal(for: IPAddress("10.2.0.1")!) == "10.2.0.1 is a private (10.0.0.0/8) address (add it to [url_ingest] allow to permit)")
        #expect(guard_.refusal(for: IPAddress("::1")!) == nil)
        #expect(guard_.refusal(for: IPAddress("fd00::5")!) == nil)
        #expect(guard_.refusal(for: IPAddress("fc00::5")!) != nil)
        #expect(throws: PipelineError.invalidArgument("[url_ingest] allow entry \"10.0.0.0/33\" is not an IP address or CIDR block")) {
            try AddressGuard(allow: ["10.0.0.0/33"])
        }
        var configuration = URLIngestConfiguration()
        configuration.allow = ["localhost"]
        #expect(throws: PipelineError.self) { try configuration.validate() }
    }
}
