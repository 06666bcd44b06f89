/// Edits of Prometheus' text exposition format (version 0.0.4).
public enum PrometheusText {
    /// Adds `name="value"` as the first label of every sample line, so several nodes' scrapes stay apart when one
    /// Prometheus reads them all (`node` on a multi-node setup). Comments (`# HELP`, `# TYPE`) and blank lines pass
    /// unchanged. `value` is escaped as the format asks (backslash, double quote, newline).
    public static func addingLabel(_ name: String, _ value: String, to text: [UInt8]) -> [UInt8] {
        let label = Array("\(name)=\"\(escape(value))\"".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 8)
        var lineStart = true
        var inName = false
        for byte in text {
            if lineStart {
                lineStart = false
                inName = byte != UInt8(ascii: "#") && byte != UInt8(ascii: "\n")
            }
            if inName {
                switch byte {
                case UInt8(ascii: "{"):
                    out.append(byte)
                    out.append(contentsOf: label)
                    out.append(UInt8(ascii: ","))
                    inName = false
                    continue
                case UInt8(ascii: " "), UInt8(ascii: "\t"):
                    out.append(UInt8(ascii: "{"))
                    out.append(contentsOf: label)
                    out.append(UInt8(ascii: "}"))
                    inName = false
                default:
                    break
                }
            }
            out.append(byte)
            if byte == UInt8(ascii: "\n") { lineStart = true; inName = false }
        }
        return out
    }

    static func escape(_ value: String) -> String {
        var s = ""
        for c in value {
            switch c {
            case "\\": s += "\\\\"
            case "\"": s += "\\\""
            case "\n": s += "\\n"
            default: s.append(c)
            }
        }
        return s
    }
}
