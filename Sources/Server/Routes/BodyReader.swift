import Hummingbird
import NIOCore

/// Reads a request body to its end, keeping at most `limit` bytes; the rest is read and dropped,
/// so a chunked upload over the limit still gets its 413 on a connection that stays in step.
/// (Declared lengths over the limit are refused before reading, in `ErrorMiddleware`.)
enum BodyReader {
    static func read(_ body: RequestBody, limit: Int) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        var tooLarge = false
        do {
            for try await var part in body {
                if tooLarge || collected.readableBytes + part.readableBytes > limit {
                    tooLarge = true
                    continue
                }
                collected.writeBuffer(&part)
            }
        } catch {
            throw ServerError.invalidField(field: nil, message: "the request body could not be read (truncated?)")
        }
        if tooLarge { throw ServerError.bodyTooLarge(limit: limit) }
        return collected
    }
}
