import Foundation

/// A picture sent inside a JSON body: base64, optionally as a `data:image/...;base64,` URL
/// (what browsers' `toDataURL` and A1111 clients send).
enum Base64Upload {
    /// - Throws: `ServerError.invalidField` naming `field` when the text is not base64 or is empty.
    static func decode(_ text: String, field: String) throws -> Upload {
        var payload = Substring(text)
        if payload.hasPrefix("data:"), let comma = payload.firstIndex(of: ",") { payload = payload[payload.index(after: comma)...] }
        guard let bytes = Data(base64Encoded: String(payload), options: .ignoreUnknownCharacters), !bytes.isEmpty else {
            throw ServerError.invalidField(field: field, message: "'\(field)' is not valid base64")
        }
        return Upload(filename: nil, contentType: nil, bytes: [UInt8](bytes))
    }
}
