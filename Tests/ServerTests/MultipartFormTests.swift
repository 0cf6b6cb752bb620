import NIOCore
@testable import Server
import Testing

/// Multipart bodies that crashed the process through MultipartKit (found by `FuzzTests`): a
/// byte of 0x80 or above in a part's header name made its parser index past its table.
@Suite struct MultipartFormTests {
    static func body(headerName: [UInt8]) -> ByteBuffer {
        ByteBuffer(bytes: Array("--B\r\n".utf8) + headerName + Array(": x\r\n\r\nvalue\r\n--B--\r\n".utf8))
    }

    @Test(arguments: [[0xC3, 0xA9], [0x80], Array("Content-".utf8) + [0xFF]])
    func aNonASCIIHeaderNameIs400NotACrash(_ name: [UInt8]) {
        #expect(throws: ServerError.invalidField(field: nil, message: "malformed multipart/form-data body")) {
            try MultipartForm(body: Self.body(headerName: name), boundary: "B")
        }
    }

    /// Non-ASCII bytes where they are allowed (values, bodies) parse as before.
    @Test func nonASCIIValuesAndBodiesStillParse() throws {
        let bytes = Array("--B\r\nContent-Disposition: form-data; name=\"prompt\"; filename=\"é.png\"\r\n\r\n".utf8)
            + [0xFF, 0x80, 0xC3, 0xA9] + Array("\r\n--B--\r\n".utf8)
        let form = try MultipartForm(body: ByteBuffer(bytes: bytes), boundary: "B")
        #expect(form.parts.count == 1 && form.parts[0].filename == "é.png" && form.parts[0].bytes == [0xFF, 0x80, 0xC3, 0xA9])
    }

    @Test func aNonASCIIBoundaryIsRefused() {
        #expect(throws: ServerError.self) { try MultipartForm.boundary(ofContentType: "multipart/form-data; boundary=é") }
    }

    @Test func theServerAnswers400AndKeepsServing() async throws {
        try await withServer(generator: FakeGenerator()) { client in
            let reply = try await client.execute(
                uri: "/v1/images/edits", method: .post, headers: [.contentType: "multipart/form-data; boundary=B"],
                body: Self.body(headerName: [0xC3, 0xA9]))
            #expect(reply.status == .badRequest)
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
        }
    }
}
