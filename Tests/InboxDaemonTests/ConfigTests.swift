import ArgumentParser
import Foundation
@testable import InboxDaemon
import Pipeline
import Testing

/// `inboxd.toml` as an operator writes it: relative paths, credentials from the environment, flags over the file.
@Suite struct ConfigTests {
    private func write(_ toml: String) throws -> (dir: String, path: String) {
        let dir = NSTemporaryDirectory() + "inboxd-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/etc", withIntermediateDirectories: true)
        let path = dir + "/etc/inboxd.toml"
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        return (dir, path)
    }

    @Test func relativePathsAreRelativeToTheConfigFileAndDefaultsAreFilledIn() throws {
        let (dir, path) = try write("inbox = \"box\"\ndb = \"../state/inboxd.db\"\noutput = \"/srv/out\"\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try Config.load(path: path, environment: [:])
        #expect(c.inbox == dir + "/etc/box")
        #expect((c.db as NSString).standardizingPath == dir + "/state/inboxd.db")
        #expect(c.output == "/srv/out")
        #expect(c.listen == ListenAddress(host: "127.0.0.1", port: 8080) && c.workers == 2 && c.settleSeconds == 5)
        #expect(c.s3 == nil)
        #expect(c.effectivePublicURL == "http://127.0.0.1:8080")
        #expect(c.webAssetsDir == "/usr/share/inboxd/web", "the Debian package's place")
        let (d2, p2) = try write("web_assets_dir = \"../web\"\n")
        defer { try? FileManager.default.removeItem(atPath: d2) }
        #expect((try Config.load(path: p2, environment: [:]).webAssetsDir as NSString).standardizingPath == d2 + "/web")
    }

    @Test func theLimitsTableSetsPerUserDefaultsAndRefusesBadValues() throws {
        let (dir, path) = try write("workers = 4\n[limits]\nmax_queued_jobs = 5\nuploads_per_minute = 0\nupload_bytes_per_hour = 1000000\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try Config.load(path: path, environment: [:])
        #expect(c.limits == UserLimits(maxRunningJobs: nil, maxQueuedJobs: 5, uploadsPerMinute: 0, uploadBytesPerHour: 1_000_000))
        #expect(c.limits.runningCap(workers: c.workers) == 3)
        #expect(try Config.load(path: try write("").path, environment: [:]).limits == UserLimits())
        for (toml, message) in [("[limits]\nuploads_per_minute = -1\n", "config key 'limits.uploads_per_minute': expected an integer ≥ 0"),
                                ("[limits]\nmax_runing_jobs = 1\n", "unknown config key 'limits.max_runing_jobs'")] {
            let (d2, p2) = try write(toml)
            defer { try? FileManager.default.removeItem(atPath: d2) }
            let e = #expect(throws: ConfigError.self) { try Config.load(path: p2, environment: [:]) }
            #expect(e?.description == message)
        }
    }

    @Test func s3CredentialsComeFromTheStandardEnvironmentWhenTheFileHasNone() throws {
        let (dir, path) = try write("[s3]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"videos\"\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "tok", "AWS_REGION": "eu-west-1"]
        let s3 = try #require(try Config.load(path: path, environment: env).s3)
        #expect(s3.accessKeyID == "AKID" && s3.secretAccessKey == "secret" && s3.sessionToken == "tok" && s3.region == "eu-west-1")
        let missing = #expect(throws: ConfigError.self) { try Config.load(path: path, environment: [:]) }
        #expect(missing?.description == "config key 's3.access_key_id': required (or set AWS_ACCESS_KEY_ID)")
    }

    @Test func theFilesOwnCredentialsWinOverTheEnvironment() throws {
        let (dir, path) = try write("[s3]\nendpoint = \"http://s3\"\nbucket = \"b\"\naccess_key_id = \"file\"\nsecret_access_key = \"file-secret\"\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s3 = try #require(try Config.load(path: path, environment: ["AWS_ACCESS_KEY_ID": "env", "AWS_SECRET_ACCESS_KEY": "env"]).s3)
        #expect(s3.accessKeyID == "file" && s3.secretAccessKey == "file-secret")
    }

    @Test func anUnknownKeyOrABadValueIsRefusedNamingIt() throws {
        let (dir, path) = try write("inbox = \"i\"\nworkerz = 3\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let unknown = #expect(throws: ConfigError.self) { try Config.load(path: path, environment: [:]) }
        #expect(unknown?.description == "unknown config key 'workerz'")
        try "listen = \"nowhere\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let bad = #expect(throws: ConfigError.self) { try Config.load(path: path, environment: [:]) }
        #expect(bad?.description == "config key 'listen': expected HOST:PORT, got 'nowhere'")
    }

    @Test func conversionPriorityDefaultsToNiceTenAndRefusesOutOfRangeValues() throws {
        let (dir, path) = try write("inbox = \"i\"\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try Config.load(path: path, environment: [:])
        #expect(c.convertNice == 10 && c.convertPolicy == .idle)
        try "convert_nice = 0\nconvert_sched_batch = true\n".write(toFile: path, atomically: true, encoding: .utf8)
        let off = try Config.load(path: path, environment: [:])
        #expect(off.convertNice == 0 && off.convertPolicy == .batch)
        try "convert_policy = \"idle\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try Config.load(path: path, environment: [:]).convertPolicy == .idle)
        try "convert_policy = \"lowest\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let unknown = #expect(throws: ConfigError.self) { try Config.load(path: path, environment: [:]) }
        #expect(unknown?.description == "config key 'convert_policy': expected \"normal\", \"batch\" or \"idle\", got \"lowest\"")
        try "convert_nice = 20\n".write(toFile: path, atomically: true, encoding: .utf8)
        let high = #expect(throws: ConfigError.self) { try Config.load(path: path, environment: [:]) }
        #expect(high?.description == "config key 'convert_nice': must be 0…19, got 20")
        try "convert_nice = -5\n".write(toFile: path, atomically: true, encoding: .utf8)
        let negative = #expect(throws: ConfigError.self) { try Config.load(path: path, environment: [:]) }
        #expect(negative?.description.hasPrefix("config key 'convert_nice'") == true)
    }

    @Test func theScannerIsOffByDefaultAndInotifyCanBeTurnedOffOnlyWithIt() throws {
        let (dir, path) = try write("inbox = \"i\"\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try Config.load(path: path, environment: [:])
        #expect(c.scanIntervalSeconds == 0 && c.useInotify)
        try "scan_interval_seconds = 2.5\ninotify = false\n".write(toFile: path, atomically: true, encoding: .utf8)
        let polling = try Config.load(path: path, environment: [:])
        #expect(polling.scanIntervalSeconds == 2.5 && !polling.useInotify)
        try "inotify = false\n".write(toFile: path, atomically: true, encoding: .utf8)
        let blind = #expect(throws: ConfigError.self) { try Config.load(path: path, environment: [:]) }
        #expect(blind?.description == "config key 'inotify': false needs scan_interval_seconds > 0, or no drop would ever be seen")
        try "scan_interval_seconds = 0.1\n".write(toFile: path, atomically: true, encoding: .utf8)
        let tooOften = #expect(throws: ConfigError.self) { try Config.load(path: path, environment: [:]) }
        #expect(tooOften?.description == "config key 'scan_interval_seconds': must be 0 (off) or at least 0.25 s, got 0.1")
        try "scan_interval_seconds = -1\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) { try Config.load(path: path, environment: [:]) }
    }

    @Test func theLadderDefaultsToFourRungsAndReadsRungsWithBitRateUnits() throws {
        let (dir, path) = try write("inbox = \"i\"\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let defaults = try Config.load(path: path, environment: [:])
        #expect(defaults.ladder.map(\.height) == [1080, 720, 480, 360] && defaults.ladderCopyTop && defaults.segmentFormat == .ts)
        try """
        ladder_copy_top = false
        segment_format = "fmp4"
        [[ladder]]
        height = 720
        video_bitrate = "2800k"
        max_rate = "4.2M"
        audio_bitrate = "96k"
        [[ladder]]
        height = 240
        video_bitrate = "400k"
        max_rate = "600k"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let c = try Config.load(path: path, environment: [:])
        #expect(c.ladder == [LadderRung(height: 720, videoBitRate: 2_800_000, maxRate: 4_200_000, audioBitRate: 96_000),
                             LadderRung(height: 240, videoBitRate: 400_000, maxRate: 600_000, audioBitRate: 128_000)])
        #expect(!c.ladderCopyTop && c.segmentFormat == .fmp4)
    }

    @Test func aBadLadderIsRefusedWithTheKeyAndWhatIsWrong() throws {
        let rung = { (fields: String) in "[[ladder]]\n" + fields }
        let cases: [(String, String)] = [
            (rung("height = 720\nvideo_bitrate = 2800\nmax_rate = \"4M\"\n"), "config key 'ladder[0].video_bitrate': expected a string"),
            (rung("height = 720\nvideo_bitrate = \"2800\"\nmax_rate = \"4M\"\n"),
             "config key 'ladder[0].video_bitrate': expected a bit rate like \"2800k\" or \"2.8M\" (bits/s), got \"2800\""),
            (rung("height = 720\nvideo_bitrate = \"2800k\"\n"), "config key 'ladder[0].max_rate': required, e.g. \"2800k\""),
            (rung("height = 721\nvideo_bitrate = \"2800k\"\nmax_rate = \"4M\"\n"),
             "config key 'ladder[0].height': must be an even number of pixels ≤ 4320, got 721"),
            (rung("video_bitrate = \"2800k\"\nmax_rate = \"4M\"\n"), "config key 'ladder[0].height': required"),
            (rung("height = 720\nvideo_bitrate = \"2800k\"\nmax_rate = \"2M\"\n"),
             "config key 'ladder[0].max_rate': must be at least video_bitrate (it is the peak)"),
            (rung("height = 720\nvideo_bitrate = \"2800k\"\nmax_rate = \"4M\"\naudio_bitrate = \"2M\"\n"),
             "config key 'ladder[0].audio_bitrate': must be 16k…512k for AAC"),
            (rung("height = 720\nvideo_bitrate = \"2800k\"\nmax_rate = \"4M\"\nwidth = 1280\n"), "unknown config key 'ladder[0].width'"),
            (rung("height = 720\nvideo_bitrate = \"2800k\"\nmax_rate = \"4M\"\n") + rung("height = 720\nvideo_bitrate = \"1M\"\nmax_rate = \"2M\"\n"),
             "config key 'ladder[1].height': two rungs with height 720: each rung needs its own"),
            ("ladder = []\n", "config key 'ladder': needs at least one [[ladder]] rung"),
            ("segment_format = \"mp4\"\n", "config key 'segment_format': expected \"ts\" or \"fmp4\", got \"mp4\""),
            ("first_segment_seconds = -2\n", "config key 'first_segment_seconds': expected a number of seconds ≥ 0"),
        ]
        for (toml, message) in cases {
            let (dir, path) = try write(toml)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let e = #expect(throws: ConfigError.self) { try Config.load(path: path, environment: [:]) }
            #expect(e?.description == message)
        }
    }

    @Test func theDbFlagOverridesTheFileAndInboxdConfigNamesTheFile() throws {
        let (dir, path) = try write("db = \"from-file.db\"\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let flagged = try CommonOptions.parse(["--config", path, "--db", "/tmp/flag.db"]).load()
        #expect(flagged.db == "/tmp/flag.db")
        let relative = try CommonOptions.parse(["--config", path, "--db", "rel.db"]).load()
        #expect(relative.db == FileManager.default.currentDirectoryPath + "/rel.db", "a flag is relative to the working directory")
        #expect(try CommonOptions.parse(["--config", path]).load().db == dir + "/etc/from-file.db")
    }

    @Test func corsOriginsAreOriginsOrAStarAndAnythingElseIsRefusedNamingTheEntry() throws {
        let (dir, path) = try write("cors_origins = [\"https://app.example\", \"http://127.0.0.1:3000\", \"http://[::1]:8000\"]\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Config.load(path: path, environment: [:]).corsOrigins == ["https://app.example", "http://127.0.0.1:3000", "http://[::1]:8000"])
        try "".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try Config.load(path: path, environment: [:]).corsOrigins == [], "off by default")
        try "cors_origins = [\"*\"]\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try Config.load(path: path, environment: [:]).corsOrigins == ["*"])
        for bad in ["https://app.example/", "app.example", "https://app.example/path", "https://:443", "https://app.example:0", "https://a.example:x"] {
            try "cors_origins = [\"\(bad)\"]\n".write(toFile: path, atomically: true, encoding: .utf8)
            let e = #expect(throws: ConfigError.self) { try Config.load(path: path, environment: [:]) }
            #expect(e?.description.hasPrefix("config key 'cors_origins': '\(bad)'") == true, "\(String(describing: e))")
        }
    }
}
