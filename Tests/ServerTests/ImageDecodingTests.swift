import Diffusion
import Foundation
@testable import Server
import Testing

/// Uploaded PNGs whose chunks run past the end are refused (by `PNG.decode`) before libpng allocates for them
/// (found by `FuzzTests`: a 126-byte file declaring a 2 GB tEXt chunk cost 2 GB of memory).
@Suite struct ImageDecodingTests {
    static func upload(_ bytes: [UInt8]) -> Upload { Upload(filename: "x.png", contentType: "image/png", bytes: bytes) }

    /// A valid PNG with a tEXt chunk (`PNG.encode` writes one) whose length field is `length`.
    static func png(textChunkLength length: UInt32?) throws -> [UInt8] {
        var bytes = PNG.encode(RGBImage(width: 3, height: 2, pixels: [UInt8](repeating: 90, count: 18)), text: [("parameters", "x")])
        guard let length else { return bytes }
        let tEXt = try #require((8..<bytes.count - 4).first { Array(bytes[$0..<$0 + 4]) == Array("tEXt".utf8) })
        bytes.replaceSubrange(tEXt - 4..<tEXt, with: withUnsafeBytes(of: length.bigEndian, Array.init))
        return bytes
    }

    @Test func aChunkLongerThanTheUploadIsRefusedBeforeDecoding() throws {
        let bytes = try Self.png(textChunkLength: 0x7B00_000F)
        let offset = try #require((8..<bytes.count - 4).first { Array(bytes[$0..<$0 + 4]) == Array("tEXt".utf8) }) - 4
        #expect(throws: ServerError.invalidField(
            field: "image",
            message: "'image' could not be decoded: invalid PNG: truncated or corrupt: chunk 'tEXt' at byte \(offset) declares 2063597583 bytes, \(bytes.count - offset - 8) remain")
        ) { try ImageDecoding.decode(Self.upload(bytes), field: "image", maxPixels: 1 << 20) }
    }

    @Test func wellFormedPNGsStillDecode() throws {
        let bytes = try Self.png(textChunkLength: nil)
        #expect(try ImageDecoding.decode(Self.upload(bytes), field: "image", maxPixels: 1 << 20).width == 3)
        // Bytes after IEND are not chunks.
        #expect(try ImageDecoding.decode(Self.upload(bytes + [0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4, 5]), field: "image", maxPixels: 1 << 20).height == 2)
    }
}
