import Foundation
import TestSupport
import Testing

@testable import Diffusion

@Suite struct JPEGTests {
    @Test func encodedPicturesDecodeBackClosely() throws {
        var pixels = [UInt8](repeating: 0, count: 64 * 48 * 3)
        for y in 0..<48 { for x in 0..<64 { pixels[(y * 64 + x) * 3] = UInt8(x * 4); pixels[(y * 64 + x) * 3 + 1] = UInt8(y * 5); pixels[(y * 64 + x) * 3 + 2] = 128 } }
        let image = RGBImage(width: 64, height: 48, pixels: pixels)
        let jpeg = JPEG.encode(image, quality: 95)
        #expect(jpeg.starts(with: [0xFF, 0xD8]) && jpeg.suffix(2) == [0xFF, 0xD9])
        let back = try JPEG.decode(jpeg)
        #expect(back.width == 64 && back.height == 48)
        #expect(psnr(back.pixels, pixels) > 35, "PSNR \(psnr(back.pixels, pixels))")
        #expect(JPEG.encode(image, quality: 20).count < jpeg.count)
        #expect(try ImageFile.decode(jpeg) == back)
        #expect(try ImageFile.decode(PNG.encode(image)) == image)
    }

    /// Fixtures from Tests/Golden/generate_png_fixtures.py (pillow, which also uses libjpeg-turbo).
    @Test(arguments: ["jpeg_rgb.jpg", "jpeg_grey.jpg"])
    func decodesJPEGsWrittenByPillowAsPillowDoes(name: String) throws {
        let data = Array(try Data(contentsOf: URL(fileURLWithPath: fixturePath(name))))
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixturePath("jpeg_expected.json"))))
        let bytes = try #require((expected as? [String: Any])?[name] as? [Int])
        let image = try JPEG.decode(data)
        #expect(image.width == 16 && image.height == 8)
        let diff = zip(image.pixels, bytes).map { abs(Int($0) - $1) }.max() ?? 999
        #expect(diff <= 2, "\(name): max difference \(diff)")  // IDCT rounding may differ slightly
    }

    /// A file cut before its frame header (SOF) is reported as truncated, not as a 0x0 picture
    /// over the size limit; no cut of a small picture is ever reported as too large.
    @Test func truncatedHeaderSaysTruncated() throws {
        let jpeg = JPEG.encode(RGBImage(width: 32, height: 32, pixels: [UInt8](repeating: 90, count: 32 * 32 * 3)))
        let sof = try #require((2..<jpeg.count - 1).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        #expect(throws: JPEG.DecodeError.invalid("truncated or corrupt header (no frame size)")) {
            try JPEG.decode(Array(jpeg.prefix(sof)))
        }
        for length in 3..<jpeg.count {
            do { _ = try JPEG.decode(Array(jpeg.prefix(length))) } catch JPEG.DecodeError.tooLarge {
                Issue.record("a \(length)-byte prefix was reported as too large")
            } catch {}
        }
    }

    @Test func rejectsOtherDataAndSurvivesTruncation() throws {
        #expect(throws: JPEG.DecodeError.notAJPEG) { try JPEG.decode(Array("hello".utf8)) }
        #expect(throws: ImageFile.UnsupportedImage.self) { try ImageFile.decode(Array("GIF89a".utf8)) }
        let jpeg = JPEG.encode(RGBImage(width: 32, height: 32, pixels: [UInt8](repeating: 90, count: 32 * 32 * 3)))
        for length in 3..<jpeg.count { _ = try? JPEG.decode(Array(jpeg.prefix(length))) }  // error or partial picture, never a crash
        #expect(throws: JPEG.DecodeError.tooLarge(width: 32, height: 32, limit: 100)) { try JPEG.decode(jpeg, maxPixels: 100) }
    }
}
