import CWebP
import Foundation
import TestSupport
import Testing

@testable import Diffusion

@Suite struct WebPTests {
    /// A gradient with a disc and per-pixel texture: smooth areas, edges and noise, so lossy
    /// coding has something to lose.
    static let picture: RGBImage = {
        let width = 64, height = 48
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                let inDisc = (x - 40) * (x - 40) + (y - 20) * (y - 20) < 144
                pixels[i] = inDisc ? 230 : UInt8(x * 4)
                pixels[i + 1] = UInt8(y * 5)
                pixels[i + 2] = UInt8(truncatingIfNeeded: 100 + (x &* 2_654_435_761 ^ y &* 40503) % 23)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }()

    /// libwebp's own simple decoder, independent of `WebP.decode`.
    static func decodeWithLibwebp(_ data: [UInt8]) throws -> RGBImage {
        var width: Int32 = 0, height: Int32 = 0
        let decoded = try #require(data.withUnsafeBufferPointer { WebPDecodeRGB($0.baseAddress, $0.count, &width, &height) })
        defer { WebPFree(decoded) }
        return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: decoded, count: Int(width * height * 3))))
    }

    @Test func losslessDecodesBackIdentically() throws {
        let webp = try WebP.encode(Self.picture, compression: .lossless)
        #expect(Array(webp.prefix(4)) == Array("RIFF".utf8) && Array(webp[8..<12]) == Array("WEBP".utf8))
        #expect(Array(webp[12..<16]) == Array("VP8L".utf8))  // the lossless bitstream
        #expect(try Self.decodeWithLibwebp(webp) == Self.picture)
        #expect(try WebP.decode(webp) == Self.picture)
    }

    /// Measured on this picture with Debian's libwebp 1.2.4: 33.9 dB at quality 90 (the blue
    /// channel's per-pixel texture and the halved chroma resolution cost the most); the bound
    /// leaves 2 dB for other libwebp versions.
    @Test func lossyQuality90StaysClose() throws {
        let webp = try WebP.encode(Self.picture, compression: .lossy(quality: 90))
        #expect(Array(webp[12..<16]) == Array("VP8 ".utf8))
        let back = try Self.decodeWithLibwebp(webp)
        #expect(back.width == 64 && back.height == 48)
        let quality = psnr(back.pixels, Self.picture.pixels)
        #expect(quality > 32, "PSNR \(quality)")
        #expect(back.pixels != Self.picture.pixels)  // it is lossy
        let low = try WebP.encode(Self.picture, compression: .lossy(quality: 20))
        #expect(low.count < webp.count)
        #expect(psnr(try Self.decodeWithLibwebp(low).pixels, Self.picture.pixels) < quality)
        #expect(try WebP.decode(webp) == back)
    }

    /// A1111's form: EXIF UserComment in UTF-16, in an `EXIF` chunk (WebP) or APP1 (JPEG); the
    /// pictures still decode as before.
    @Test func parametersTravelInEXIF() throws {
        let text = "a red circle, café, 猫 🎨\nNegative prompt: blue\nSteps: 20, Sampler: euler_a, Seed: 42"
        let webp = try ImageFileFormat.webp.encode(Self.picture, parameters: text, compression: nil)
        #expect(Array(webp[12..<16]) == Array("VP8X".utf8))  // the extended container metadata needs
        let chunk = try #require(WebP.exifChunk(webp))
        #expect(Array(chunk.prefix(4)) == [0x4D, 0x4D, 0x00, 0x2A])  // a TIFF block, no "Exif\0\0"
        #expect(EXIF.userComment(in: chunk) == text)
        #expect(try Self.decodeWithLibwebp(webp) == Self.picture)

        let jpeg = try ImageFileFormat.jpeg.encode(Self.picture, parameters: text, compression: 95)
        #expect(EXIF.userComment(in: try #require(JPEG.exifBlock(jpeg))) == text)
        #expect(psnr(try JPEG.decode(jpeg).pixels, Self.picture.pixels) > 30)

        let png = try ImageFileFormat.png.encode(Self.picture, parameters: "plain", compression: 10)
        #expect(PNG.textChunks(png)["parameters"] == "plain")
        #expect(try PNG.decode(png) == Self.picture)
        #expect(WebP.exifChunk(try WebP.encode(Self.picture, compression: .lossless)) == nil)
    }

    /// Our block byte for byte (TIFF 6.0 layout as piexif writes it), and a little-endian block
    /// (as other cameras and tools write) read back too.
    @Test func exifLayout() throws {
        let block = EXIF.userComment("Hi")
        let expected: [UInt8] =
            [0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8]
            + [0, 1, 0x87, 0x69, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0]
            + [0, 1, 0x92, 0x86, 0, 7, 0, 0, 0, 12, 0, 0, 0, 44, 0, 0, 0, 0]
            + Array("UNICODE".utf8) + [0, 0, 0x48, 0, 0x69]
        #expect(block == expected)
        let little: [UInt8] =
            [0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0]
            + [1, 0, 0x69, 0x87, 4, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0, 0, 0, 0]
            + [1, 0, 0x86, 0x92, 7, 0, 13, 0, 0, 0, 44, 0, 0, 0, 0, 0, 0, 0]
            + Array("ASCII".utf8) + [0, 0, 0] + Array("Steps".utf8)
        #expect(EXIF.userComment(in: little) == "Steps")
        // Cut anywhere, a block gives nil or a string, never a crash or an overread.
        for length in 0..<block.count { _ = EXIF.userComment(in: Array(block.prefix(length))) }
        #expect(EXIF.userComment(in: Array(block.prefix(40))) == nil)
        // A text longer than the room is cut at a character boundary.
        let cut = EXIF.userComment(String(repeating: "é🎨", count: 100), maxBytes: 100)
        #expect(cut.count <= 100)
        #expect(EXIF.userComment(in: cut)?.allSatisfy { $0 == "é" || $0 == "🎨" } == true)
    }

    @Test func compressionMapping() {
        #expect(ImageFileFormat.webpCompression(nil) == .lossless)
        #expect(ImageFileFormat.webpCompression(100) == .lossless)
        #expect(ImageFileFormat.webpCompression(99) == .lossy(quality: 99))
        #expect(ImageFileFormat.webpCompression(0) == .lossy(quality: 0))
        #expect(ImageFileFormat.jpegQuality(compression: nil) == 90)
        #expect(ImageFileFormat.jpegQuality(compression: 0) == 1)
        #expect(ImageFileFormat.jpegQuality(compression: 100) == 100)
        #expect(ImageFileFormat(pathExtension: "WEBP") == .webp && ImageFileFormat(pathExtension: "jpg") == .jpeg)
        #expect(ImageFileFormat(pathExtension: "gif") == nil)
        #expect(ImageFileFormat.webp.mediaType == "image/webp" && ImageFileFormat.jpeg.fileExtension == "jpg")
    }

    @Test func rejectsOtherDataAndSurvivesTruncation() throws {
        #expect(throws: WebP.DecodeError.notAWebP) { try WebP.decode(Array("RIFF....WAVEfmt ".utf8)) }
        let webp = try WebP.encode(Self.picture, compression: .lossy(quality: 50))
        #expect(throws: WebP.DecodeError.tooLarge(width: 64, height: 48, limit: 100)) { try WebP.decode(webp, maxPixels: 100) }
        for length in 12..<webp.count { _ = try? WebP.decode(Array(webp.prefix(length))) }  // an error, never a crash
        #expect(throws: WebP.DecodeError.self) { try WebP.decode(Array(webp.prefix(30))) }
        #expect(throws: WebP.EncodeError.encodingFailed(width: 16384, height: 1)) {
            try WebP.encode(RGBImage(width: 16384, height: 1, pixels: [UInt8](repeating: 0, count: 16384 * 3)), compression: .lossless)
        }
    }
}
