import Tensor

/// An 8-bit RGB picture, rows top to bottom, pixels interleaved R, G, B.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3, "RGBImage: \(width)x\(height), \(pixels.count) bytes")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A decoder output [3, H, W] in [-1, 1] as 8-bit pixels: clamp((x + 1) / 2, 0, 1), then
    /// floor(v * 255 + 0.5), as stable-diffusion.cpp and diffusers round.
    public init(decoded: Tensor) {
        precondition(decoded.rank == 3 && decoded.shape[0] == 3, "RGBImage: expected [3, H, W], got \(decoded.shape)")
        let height = decoded.shape[1], width = decoded.shape[2], plane = width * height
        var pixels = [UInt8](repeating: 0, count: plane * 3)
        decoded.withUnsafeBufferPointer { values in
            for c in 0..<3 {
                for i in 0..<plane {
                    let v = min(max((values[c * plane + i] + 1) / 2, 0), 1)
                    pixels[i * 3 + c] = UInt8((v * 255 + 0.5).rounded(.down))
                }
            }
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// The picture as a ControlNet's control input [1, 3, H, W] in [0, 1] (value / 255, as
    /// diffusers' control-image processor).
    public func unitTensor() -> Tensor {
        let plane = width * height
        var values = [Float](repeating: 0, count: plane * 3)
        for i in 0..<plane {
            for c in 0..<3 { values[c * plane + i] = Float(pixels[i * 3 + c]) / 255 }
        }
        return Tensor(shape: [1, 3, height, width], values: values)
    }

    /// The picture as an encoder input [1, 3, H, W] in [-1, 1] (value / 255 * 2 - 1).
    public func tensor() -> Tensor {
        let plane = width * height
        var values = [Float](repeating: 0, count: plane * 3)
        for i in 0..<plane {
            for c in 0..<3 { values[c * plane + i] = Float(pixels[i * 3 + c]) / 255 * 2 - 1 }
        }
        return Tensor(shape: [1, 3, height, width], values: values)
    }

    /// Resized with bilinear filtering (area-averaging when shrinking by more than 2x would be
    /// better; inputs are usually close to the target size).
    public func resized(width newWidth: Int, height newHeight: Int) -> RGBImage {
        if newWidth == width && newHeight == height { return self }
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        let sx = Double(width) / Double(newWidth), sy = Double(height) / Double(newHeight)
        for y in 0..<newHeight {
            let fy = max(0, min(Double(height - 1), (Double(y) + 0.5) * sy - 0.5))
            let y0 = Int(fy), y1 = min(y0 + 1, height - 1), wy = fy - Double(y0)
            for x in 0..<newWidth {
                let fx = max(0, min(Double(width - 1), (Double(x) + 0.5) * sx - 0.5))
                let x0 = Int(fx), x1 = min(x0 + 1, width - 1), wx = fx - Double(x0)
                for c in 0..<3 {
                    let p00 = Double(pixels[(y0 * width + x0) * 3 + c]), p01 = Double(pixels[(y0 * width + x1) * 3 + c])
                    let p10 = Double(pixels[(y1 * width + x0) * 3 + c]), p11 = Double(pixels[(y1 * width + x1) * 3 + c])
                    let v = (p00 * (1 - wx) + p01 * wx) * (1 - wy) + (p10 * (1 - wx) + p11 * wx) * wy
                    out[(y * newWidth + x) * 3 + c] = UInt8(min(255, max(0, v.rounded())))
                }
            }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }

    /// The region [x, x + width) x [y, y + height).
    public func cropped(x: Int, y: Int, width newWidth: Int, height newHeight: Int) -> RGBImage {
        precondition(x >= 0 && y >= 0 && x + newWidth <= width && y + newHeight <= height, "crop out of bounds")
        var out: [UInt8] = []
        out.reserveCapacity(newWidth * newHeight * 3)
        for row in y..<(y + newHeight) {
            out += pixels[((row * width + x) * 3)..<((row * width + x + newWidth) * 3)]
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }
}
