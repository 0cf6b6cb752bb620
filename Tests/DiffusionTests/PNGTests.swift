import Foundation
import Tensor
import Testing

@testable import Diffusion

@Suite struct PNGTests {
    @Test func encodedPicturesDecodeBackExactlyWithTheirText() throws {
        var pixels = [UInt8](repeating: 0, count: 37 * 23 * 3)
        for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) }
        let image = RGBImage(width: 37, height: 23, pixels: pixels)
        let png = PNG.encode(image, text: [("parameters", "a red circle\nSteps: 20, Sampler: euler_a, é")])
        #expect(try PNG.decode(png) == image)
        #expect(PNG.textChunks(png)["parameters"] == "a red circle\nSteps: 20, Sampler: euler_a, é")
    }

    /// Fixtures from Tests/Golden/generate_png_fixtures.py (pillow): every PNG colour type.
    @Test(arguments: ["png_rgb.png", "png_grey.png", "png_rgba.png", "png_palette.png"])
    func decodesEveryColourTypeToRGB(name: String) throws {
        let data = Array(try Data(contentsOf: URL(fileURLWithPath: fixturePath(name))))
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixturePath("png_expected.json"))))
        let bytes = try #require((expected as? [String: Any])?[name] as? [Int])
        let image = try PNG.decode(data)
        #expect(image.width == 5 && image.height == 3)
        let diff = zip(image.pixels, bytes).map { abs(Int($0) - $1) }.max() ?? 999
        #expect(diff <= 1, "\(name): max difference \(diff)")  // numpy's rint and integer rounding may differ by 1
    }

    @Test func rejectsNonPNGAndCorruptData() throws {
        #expect(throws: PNG.DecodeError.notAPNG) { try PNG.decode(Array("GIF89a....".utf8)) }
        let png = PNG.encode(RGBImage(width: 4, height: 4, pixels: [UInt8](repeating: 9, count: 48)))
        // Cut anywhere before the end of the pixel data (signature 8 + IHDR 25, then IDAT), a
        // PNG must be rejected; cut after it (IEND missing) libpng may accept it. Never a crash.
        let idatLength = Int(png[33]) << 24 | Int(png[34]) << 16 | Int(png[35]) << 8 | Int(png[36])
        for length in 9..<png.count {
            if length < 33 + 8 + idatLength {
                #expect(throws: PNG.DecodeError.self, "cut at \(length)") { try PNG.decode(Array(png.prefix(length))) }
            } else {
                _ = try? PNG.decode(Array(png.prefix(length)))
            }
        }
        #expect(throws: PNG.DecodeError.tooLarge(width: 4, height: 4, limit: 10)) { try PNG.decode(png, maxPixels: 10) }
    }

    @Test func decoderOutputMapsToBytesAsTheReferenceRounds() {
        // (x + 1) / 2 clamped, then floor(v * 255 + 0.5): -1 -> 0, 1 -> 255, 0 -> 128, beyond clamps.
        let t = Tensor(shape: [3, 1, 2], values: [-1, 1, 0, 2, -3, 0.00392])
        let image = RGBImage(decoded: t)
        #expect(image.pixels == [0, 128, 0, 255, 255, 128])
        let back = image.tensor()
        #expect(back.shape == [1, 3, 1, 2])
        #expect(abs(back[0, 0, 0, 1] - 1) < 1e-6)
    }

    /// The chunk-layout check refuses no file libpng would read: every cut of a valid picture
    /// (with text and several rows of noise) is accepted or refused exactly as by libpng alone.
    @Test func everyCutIsJudgedAsLibpngJudgesIt() throws {
        var state: UInt32 = 7
        let pixels = (0..<(40 * 30 * 3)).map { _ -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        let bytes = PNG.encode(RGBImage(width: 40, height: 30, pixels: pixels), text: [("parameters", "cut test")])
        for length in 9...bytes.count {
            let cut = Array(bytes.prefix(length))
            let alone = (try? PNG.decodeWithLibpng(cut, maxPixels: 1 << 20)) != nil
            let checked = (try? PNG.decode(cut, maxPixels: 1 << 20)) != nil
            #expect(alone == checked, "cut at \(length) of \(bytes.count): libpng \(alone), with the check \(checked)")
        }
    }
}
