import Foundation

import MultipartKit
import NIOCore

/// A parsed `multipart/form-data` body: its parts in order. Malformed or truncated bodies throw
/// `ServerError.invalidField` instead of reaching the handlers half-read.
struct MultipartForm: Sendable {
    struct Part: Sendable {
        var name: String
        var filename: String?
        var contentType: String?
        var bytes: [UInt8]

        var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    var parts: [Part]

    /// The boundary of a `multipart/form-data` content type, or nil for other types.
    /// - Throws: `ServerError.invalidField` for a multipart type without a usable boundary.
    static func boundary(ofContentType contentType: String) throws -> String? {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = pieces.first, type.lowercased() == "multipart/form-data" else { return nil }
        for piece in pieces.dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            var value = pair[1]
            if value.count >= 2 && value.hasPrefix("\"") && value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            // RFC 2046: 1 to 70 characters; the parser traps on an empty one. Printable ASCII
            // only (RFC 2046 allows a subset), which `dryRun` relies on.
            guard !value.isEmpty && value.count <= 70, value.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else { break }
            return value
        }
        throw ServerError.invalidField(field: nil, message: "multipart/form-data needs a boundary of 1 to 70 characters")
    }

    /// Parses a complete body.
    /// - Throws: `ServerError.invalidField` for bad syntax, a truncated body, a part without a
    ///   name, or no parts at all.
    init(body: ByteBuffer, boundary: String) throws {
        let parser = MultipartParser(boundary: boundary)
        var parts: [Part] = []
        var headers: [(String, String)] = []
        var bytes: [UInt8] = []
        var inPart = false
        var failure: ServerError?
        parser.onHeader = { name, value in
            inPart = true
            headers.append((name.lowercased(), value))
        }
        parser.onBody = { buffer in
            inPart = true
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        parser.onPartComplete = {
            defer { headers = []; bytes = []; inPart = false }
            guard failure == nil else { return }
            let disposition = headers.first { $0.0 == "content-disposition" }?.1 ?? ""
            let parameters = MultipartForm.dispositionParameters(disposition)
            guard let name = parameters["name"], !name.isEmpty else {
                failure = .invalidField(field: nil, message: "a multipart part has no Content-Disposition name")
                return
            }
            let contentType = headers.first { $0.0 == "content-type" }?.1
            parts.append(Part(name: name, filename: parameters["filename"], contentType: contentType, bytes: bytes))
        }
        do {
            try Self.dryRun(body, boundary: boundary)
            try parser.execute(body)
        } catch {
            throw ServerError.invalidField(field: nil, message: "malformed multipart/form-data body")
        }
        if let failure { throw failure }
        // A part that started but never reached its closing boundary: the body was cut short.
        if inPart { throw ServerError.invalidField(field: nil, message: "truncated multipart/form-data body") }
        guard !parts.isEmpty else { throw ServerError.invalidField(field: nil, message: "empty multipart/form-data body") }
        self.parts = parts
    }

    /// MultipartKit 4.7.1 looks every byte of a part's header names up in a 128-entry table and
    /// traps on one of 0x80 or above, so a single request could end the server. This runs its
    /// parser first over a copy with every such byte replaced by DEL (0x7F): DEL is not allowed
    /// in a header name either, and equals no byte the parser compares against (CR, LF, '-',
    /// ':', space, tab, the printable-ASCII boundary), so the copy takes the very same path and
    /// throws a syntax error exactly where the real body would have trapped.
    private static func dryRun(_ body: ByteBuffer, boundary: String) throws {
        guard body.readableBytesView.contains(where: { $0 >= 0x80 }) else { return }
        let masked = ByteBuffer(bytes: body.readableBytesView.lazy.map { $0 >= 0x80 ? 0x7F : $0 })
        try MultipartParser(boundary: boundary).execute(masked)
    }

    /// `form-data; name="a"; filename="b.png"` -> ["name": "a", "filename": "b.png"].
    static func dispositionParameters(_ header: String) -> [String: String] {
        var result: [String: String] = [:]
        var rest = Substring(header)
        // Skip the disposition type.
        guard let firstSemicolon = rest.firstIndex(of: ";") else { return result }
        rest = rest[rest.index(after: firstSemicolon)...]
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "\t" }
            guard let equals = rest.firstIndex(of: "=") else { break }
            let key = rest[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                while let ch = rest.first {
                    rest = rest.dropFirst()
                    if escaped { value.append(ch); escaped = false } else if ch == "\\" { escaped = true } else if ch == "\"" { break } else { value.append(ch) }
                }
                if let semicolon = rest.firstIndex(of: ";") { rest = rest[rest.index(after: semicolon)...] } else { rest = "" }
            } else {
                let end = rest.firstIndex(of: ";") ?? rest.endIndex
                value = rest[..<end].trimmingCharacters(in: .whitespaces)
                rest = end == rest.endIndex ? "" : rest[rest.index(after: end)...]
            }
            if result[key] == nil { result[key] = value }
        }
        return result
    }
}
