/// Why a multipart body was rejected; each message is sent to the client as the 400's `detail`.
public enum MultipartError: Error, Equatable, CustomStringConvertible {
    case missingFinalBoundary
    case malformedBoundaryLine
    case headersTooLarge(limit: Int)
    case malformedHeader(String)
    case partWithoutName
    case invalidBoundary

    public var description: String {
        switch self {
        case .missingFinalBoundary: "multipart body ended before its closing boundary"
        case .malformedBoundaryLine: "multipart boundary line is followed by unexpected bytes"
        case .headersTooLarge(let limit): "multipart part headers exceed \(limit) bytes"
        case .malformedHeader(let line): "malformed multipart part header: \(line)"
        case .partWithoutName: "multipart part has no Content-Disposition name"
        case .invalidBoundary: "Content-Type multipart/form-data needs a boundary parameter of 1-70 characters"
        }
    }

}
