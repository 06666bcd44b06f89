import Foundation
import Testing

@testable import Pipeline

@Suite("SigV4 signing")
struct S3SigV4Tests {
    @Test("the signer reproduces AWS's documented GET Object example")
    func awsGetObjectExample() {
        let signer = SigV4Signer(
            accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            sessionToken: nil, region: "us-east-1")
        let headers = signer.sign(
            method: "GET", host: "examplebucket.s3.amazonaws.com", canonicalURI: "/test.txt", canonicalQuery: "",
            headers: [("Range", "bytes=0-9")],
            payloadHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            date: Date(timeIntervalSince1970: 1_369_353_600))  // 2013-05-24T00:00:00Z
        let authorization = headers.first { $0.0 == "Authorization" }?.1
        #expect(
            authorization
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.contains { $0 == ("x-amz-date", "20130524T000000Z") })
    }

    @Test("a session token is sent and signed")
    func sessionToken() {
        let signer = SigV4Signer(accessKeyID: "AK", secretAccessKey: "SK", sessionToken: "TOKEN", region: "eu-west-1")
        let headers = signer.sign(
            method: "PUT", host: "h", canonicalURI: "/b/k", canonicalQuery: "", headers: [],
            payloadHash: SigV4Signer.unsignedPayload)
        #expect(headers.contains { $0 == ("x-amz-security-token", "TOKEN") })
        let authorization = headers.first { $0.0 == "Authorization" }?.1 ?? ""
        #expect(authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"))
    }

    @Test("keys and queries are encoded the way S3 canonicalises them")
    func encoding() {
        #expect(SigV4Signer.uriEncode("videos/a b/ü+*.ts", keepSlash: true) == "videos/a%20b/%C3%BC%2B%2A.ts")
        #expect(SigV4Signer.uriEncode("a/b", keepSlash: false) == "a%2Fb")
        #expect(SigV4Signer.canonicalQuery([("uploads", "")]) == "uploads=")
        #expect(
            SigV4Signer.canonicalQuery([("uploadId", "x/y=="), ("partNumber", "3")])
                == "partNumber=3&uploadId=x%2Fy%3D%3D")
    }
}
