import Foundation

/// ISO 8601 UTC with second precision (`2023-01-01T00:00:00Z`), the format of every time column.
public enum Timestamp {
    public static func string(_ date: Date = Date()) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02dZ",
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// Parses exactly the format `string(_:)` writes; nil for anything else.
    public static func date(_ string: String) -> Date? {
        let u = Array(string.utf8)
        guard u.count == 20, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"), u[10] == UInt8(ascii: "T"),
              u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":"), u[19] == UInt8(ascii: "Z") else { return nil }
        func number(_ from: Int, _ to: Int) -> Int32? {
            var v: Int32 = 0
            for c in u[from..<to] {
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int32(c - 48)
            }
            return v
        }
        guard let y = number(0, 4), let mo = number(5, 7), let d = number(8, 10),
              let h = number(11, 13), let mi = number(14, 16), let s = number(17, 19) else { return nil }
        var parts = tm()
        parts.tm_year = y - 1900
        parts.tm_mon = mo - 1
        parts.tm_mday = d
        parts.tm_hour = h
        parts.tm_min = mi
        parts.tm_sec = s
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
