import Foundation

/// A Gaussian blur of an 8-bit plane that gives exactly the bytes of OpenCV's
/// `GaussianBlur(src, (size, size), sigma)` (default border, reflect-101): OpenCV filters 8-bit
/// pictures in fixed point, bit-exact across its SIMD paths, so a float blur would differ from it
/// by one here and there and move edges.
///
/// The kernel is OpenCV's: sampled Gaussian normalized to sum 1, then quantized to 8 fractional
/// bits with the rounding error carried from tap to tap (so the taps sum to exactly 256 and the
/// centre takes the remainder). Rows are filtered into 16-bit sums (8 fractional bits, exact),
/// columns into 16 fractional bits, rounded half up to a byte.
struct GaussianBlur: Sendable {
    /// Taps in units of 1/256, symmetric, summing to 256.
    let taps: [Int]

    /// - Parameters:
    ///   - size: kernel width and height (odd).
    ///   - sigma: standard deviation in pixels (> 0).
    init(size: Int, sigma: Double) {
        precondition(size > 0 && size % 2 == 1 && sigma > 0, "GaussianBlur: size \(size), sigma \(sigma)")
        let half = size / 2
        // x runs over twice the offset from the centre, hence -1/8 rather than -1/2 (OpenCV's form,
        // kept so the doubles, and so the rounding below, are the same).
        let scale = -0.125 / (sigma * sigma)
        let side = (0..<half).map { i -> Double in
            let x = Double(2 * i + 1 - size)
            return exp(x * x * scale)
        }
        let normalizer = 1 / (side.reduce(0, +) * 2 + 1)
        var taps = [Int](repeating: 0, count: size)
        var carried = 0.0, sum = 0
        for i in 0..<half {
            let adjusted = side[i] * normalizer * 256 + carried
            let rounded = adjusted.rounded(.toNearestOrEven)
            carried = adjusted - rounded
            taps[i] = Int(rounded)
            taps[size - 1 - i] = Int(rounded)
            sum += 2 * Int(rounded)
        }
        taps[half] = 256 - sum
        self.taps = taps
    }

    func callAsFunction(_ image: GreyImage) -> GreyImage {
        let width = image.width, height = image.height, half = taps.count / 2
        let taps = self.taps.map { UInt32($0) }
        // Row pass. A row is copied with its reflected margins first so the inner loop needs no
        // border cases; the sums (at most 255 * 256) fit 16 bits exactly.
        var rows = [UInt16](repeating: 0, count: width * height)
        var line = [UInt32](repeating: 0, count: width + 2 * half)
        let columnSource = (-half..<(width + half)).map { GaussianBlur.reflect101($0, width) }
        image.pixels.withUnsafeBufferPointer { src in
            rows.withUnsafeMutableBufferPointer { rows in
                line.withUnsafeMutableBufferPointer { line in
                    taps.withUnsafeBufferPointer { taps in
                        for y in 0..<height {
                            let row = y * width
                            for (i, x) in columnSource.enumerated() { line[i] = UInt32(src[row + x]) }
                            for x in 0..<width {
                                var sum: UInt32 = 0
                                for k in 0..<taps.count { sum &+= taps[k] &* line[x + k] }
                                rows[row + x] = UInt16(truncatingIfNeeded: sum)
                            }
                        }
                    }
                }
            }
        }
        // Column pass: 16 fractional bits (at most 255 * 65536), rounded half up.
        let out = [UInt8](unsafeUninitializedCapacity: width * height) { out, initialized in
            rows.withUnsafeBufferPointer { rows in
                taps.withUnsafeBufferPointer { taps in
                    for y in 0..<height {
                        let sourceRows = (-half...half).map { GaussianBlur.reflect101(y + $0, height) * width }
                        for x in 0..<width {
                            var sum: UInt32 = 1 << 15
                            for k in 0..<taps.count { sum &+= taps[k] &* UInt32(rows[sourceRows[k] + x]) }
                            out[y * width + x] = UInt8(truncatingIfNeeded: min(sum >> 16, 255))
                        }
                    }
                }
            }
            initialized = width * height
        }
        return GreyImage(width: width, height: height, pixels: out)
    }

    /// OpenCV's BORDER_REFLECT_101 (`gfedcb|abcdefgh|gfedcba`), repeated for margins wider than the
    /// picture.
    static func reflect101(_ index: Int, _ count: Int) -> Int {
        guard count > 1 else { return 0 }
        var i = index
        while i < 0 || i >= count { i = i < 0 ? -i : 2 * (count - 1) - i }
        return i
    }
}
