/// One 8-bit channel, rows top to bottom: the picture the edge detector's stages pass along.
struct GreyImage: Sendable, Equatable {
    let width: Int
    let height: Int
    /// `width * height` bytes.
    var pixels: [UInt8]

    init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height, "GreyImage: \(width)x\(height), \(pixels.count) bytes")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Luma as OpenCV's `cvtColor(COLOR_RGB2GRAY)` computes it for 8-bit pixels, so edge maps can
    /// be checked against OpenCV stage by stage: BT.601 weights in 15-bit fixed point (9798,
    /// 19235, 3735, summing to 2^15), rounded half up. (OpenCV 5 and recent 4.x use these; the
    /// older 14-bit weights 4899/9617/1868 differ by one on about 0.3% of colours.)
    init(luminanceOf image: RGBImage) {
        let count = image.width * image.height
        let luma = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            image.pixels.withUnsafeBufferPointer { rgb in
                for i in 0..<count {
                    let r = UInt32(rgb[3 * i]), g = UInt32(rgb[3 * i + 1]), b = UInt32(rgb[3 * i + 2])
                    out[i] = UInt8(truncatingIfNeeded: (r * 9798 + g * 19235 + b * 3735 + (1 << 14)) >> 15)
                }
            }
            initialized = count
        }
        self.init(width: image.width, height: image.height, pixels: luma)
    }

    /// The plane in all three channels.
    var rgb: RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for (i, v) in self.pixels.enumerated() {
            pixels[3 * i] = v
            pixels[3 * i + 1] = v
            pixels[3 * i + 2] = v
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
