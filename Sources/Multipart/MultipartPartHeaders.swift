/// The headers of one form-data part: its field `name`, the `filename` of a file part and its `Content-Type`.
public struct MultipartPartHeaders: Sendable, Equatable {
    public var name: String
    public var filename: String?
    public var contentType: String?

    public init(name: String, filename: String? = nil, contentType: String? = nil) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
    }

    /// Parses a header block (lines separated by CRLF, without the blank line that ends it).
    init(block: String) throws {
        var name: String?
        var filename: String?
        var contentType: String?
        for line in block.split(separator: "\r\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else { throw MultipartError.malformedHeader(String(line.prefix(80))) }
            let key = line[..<colon].trimmingSpaces().lowercased()
            let value = line[line.index(after: colon)...].trimmingSpaces()
            switch key {
            case "content-disposition":
                let params = HeaderParameters.parse(value)
                guard params.value.lowercased() == "form-data" else {
                    throw MultipartError.malformedHeader("Content-Disposition is not form-data")
                }
                name = params["name"]
                filename = params["filename"]
            case "content-type":
                contentType = value
            default:
                continue
            }
        }
        guard let name else { throw MultipartError.partWithoutName }
        self.init(name: name, filename: filename, contentType: contentType)
    }
}

/// A header value with `; key=value` parameters (values optionally quoted), as in Content-Type and Content-Disposition.
public struct HeaderParameters: Sendable {
    public var value: String
    public var parameters: [String: String]

    public subscript(key: String) -> String? { parameters[key.lowercased()] }

    public static func parse(_ header: some StringProtocol) -> HeaderParameters {
        var chars = Substring(header)
        func readToken(until stops: Set<Character>) -> String {
            let end = chars.firstIndex(where: { stops.contains($0) }) ?? chars.endIndex
            let token = chars[..<end]
            chars = chars[end...]
            return token.trimmingSpaces()
        }
        let value = readToken(until: [";"])
        var parameters: [String: String] = [:]
        while chars.first == ";" {
            chars = chars.dropFirst()
            let key = readToken(until: ["=", ";"]).lowercased()
            guard chars.first == "=" else { continue }
            chars = chars.dropFirst()
            while chars.first == " " || chars.first == "\t" { chars = chars.dropFirst() }
            var parsed = ""
            if chars.first == "\"" {
                chars = chars.dropFirst()
                while let c = chars.first, c != "\"" {
                    chars = chars.dropFirst()
                    if c == "\\", let escaped = chars.first {
                        parsed.append(escaped)
                        chars = chars.dropFirst()
                    } else {
                        parsed.append(c)
                    }
                }
                chars = chars.dropFirst()
                _ = readToken(until: [";"])
            } else {
                parsed = readToken(until: [";"])
            }
            if !key.isEmpty { parameters[key] = parsed }
        }
        return HeaderParameters(value: value, parameters: parameters)
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
