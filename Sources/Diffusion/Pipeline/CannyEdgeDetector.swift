/// Canny edge map of a picture: the hint a canny ControlNet is conditioned on, white (255, 255,
/// 255) on edges and black elsewhere.
///
/// The stages are stable-diffusion.cpp's canny preprocessor's (grey, 5x5 Gaussian blur with sigma
/// 1.4, Sobel gradient, non-maximum suppression, double threshold with hysteresis), each done as
/// OpenCV does it (`cvtColor(RGB2GRAY)`, `GaussianBlur(grey, (5, 5), 1.4)`,
/// `Canny(blurred, low, high, apertureSize: 3, L2gradient: true)`), so that the result equals
/// OpenCV's byte for byte and can be tested against it.
public struct CannyEdgeDetector: Sendable {
    /// The hysteresis thresholds, on the L2 magnitude of the 3x3 Sobel gradient of the blurred
    /// grey picture (for 8-bit pixels at most 1020 * sqrt(2)). Pixels above `high` start edges;
    /// pixels above `low` that touch an edge (8-connected) extend it. Swapped if `low > high`, as
    /// OpenCV does.
    public enum Thresholds: Sendable, Equatable {
        /// Fractions of the picture's largest gradient magnitude, so that the edge density does
        /// not depend on the picture's contrast; stable-diffusion.cpp normalizes the magnitude by
        /// its maximum likewise. A flat picture has no edges.
        case relative(low: Double, high: Double)
        /// Magnitudes as `cv2.Canny` takes them (lllyasviel's ControlNet annotator uses 100 and 200).
        case absolute(low: Double, high: Double)
    }

    /// stable-diffusion.cpp's thresholds: high 0.08 of the largest magnitude, and low 0.08 of
    /// that (its preprocessor takes the low fraction of the high threshold), so 0.0064 of the
    /// largest. Its hysteresis is one pass over the 8 neighbours; here it follows edges as far as
    /// they go, as OpenCV's.
    public static let defaultThresholds = Thresholds.relative(low: 0.0064, high: 0.08)

    /// The thresholds every picture is traced with.
    public let thresholds: Thresholds

    /// - Parameter thresholds: finite values.
    public init(thresholds: Thresholds = CannyEdgeDetector.defaultThresholds) {
        switch thresholds {
        case .relative(let low, let high), .absolute(let low, let high):
            precondition(low.isFinite && high.isFinite, "CannyEdgeDetector: thresholds \(low), \(high)")
        }
        self.thresholds = thresholds
    }

    /// The edge map of `image`, the same size.
    public func edgeMap(of image: RGBImage) -> RGBImage {
        edges(ofGrey: CannyEdgeDetector.blurred(CannyEdgeDetector.grey(image))).rgb
    }

    /// Stage 1: luma, as OpenCV's `cvtColor(COLOR_RGB2GRAY)`.
    static func grey(_ image: RGBImage) -> GreyImage { GreyImage(luminanceOf: image) }

    /// stable-diffusion.cpp's blur (5x5, sigma 1.4) as OpenCV's `GaussianBlur` computes it.
    static let blur = GaussianBlur(size: 5, sigma: 1.4)

    /// Stage 2: the blurred grey picture.
    static func blurred(_ grey: GreyImage) -> GreyImage { blur(grey) }

    /// Stage 3: `cv2.Canny(image, low, high, apertureSize=3, L2gradient=True)` with the thresholds
    /// resolved for this picture; 255 on edges, 0 elsewhere.
    func edges(ofGrey image: GreyImage) -> GreyImage {
        let gradient = SobelGradient(image)
        let (low, high) = squaredThresholds(maxSquaredMagnitude: gradient.maxSquaredMagnitude)
        return EdgeTracer(gradient: gradient, low: low, high: high).edges()
    }

    /// The thresholds as `cv2.Canny` would be called with for a picture whose largest squared
    /// gradient magnitude is `maxSquaredMagnitude`.
    func absoluteThresholds(maxSquaredMagnitude: Int) -> (low: Double, high: Double) {
        switch thresholds {
        case .absolute(let low, let high):
            return (low, high)
        case .relative(let low, let high):
            let largest = Double(maxSquaredMagnitude).squareRoot()
            return (low * largest, high * largest)
        }
    }

    /// The integer bounds OpenCV compares squared magnitudes with (strictly greater passes):
    /// thresholds ordered, capped at 32767, squared when positive, floored. (Below -32767 is
    /// capped too, where OpenCV's conversion to int would overflow; any negative bound passes
    /// every magnitude alike.)
    func squaredThresholds(maxSquaredMagnitude: Int) -> (low: Int, high: Int) {
        var (low, high) = absoluteThresholds(maxSquaredMagnitude: maxSquaredMagnitude)
        if low > high { swap(&low, &high) }
        func squared(_ t: Double) -> Int {
            let capped = min(32767, max(-32767, t))
            return Int((capped > 0 ? capped * capped : capped).rounded(.down))
        }
        return (squared(low), squared(high))
    }
}

/// The 3x3 Sobel derivatives of an 8-bit plane as OpenCV's `Sobel(src, CV_16S, ..., ksize: 3,
/// borderType: BORDER_REPLICATE)` (x to the right, y downwards), and their squared L2 magnitude.
struct SobelGradient {
    let width: Int
    let height: Int
    let dx: [Int32]
    let dy: [Int32]
    /// dx * dx + dy * dy: integers, so thresholds compare exactly (at most 2 * 1020^2).
    let squaredMagnitude: [Int32]
    let maxSquaredMagnitude: Int

    init(_ image: GreyImage) {
        let width = image.width, height = image.height, count = width * height
        // The picture with one replicated pixel all round, so every pixel has 8 neighbours.
        let paddedWidth = width + 2
        var padded = [Int32](repeating: 0, count: paddedWidth * (height + 2))
        for y in -1...height {
            let sy = min(max(y, 0), height - 1)
            for x in -1...width {
                padded[(y + 1) * paddedWidth + x + 1] = Int32(image.pixels[sy * width + min(max(x, 0), width - 1)])
            }
        }
        var dx = [Int32](repeating: 0, count: count), dy = dx, magnitude = dx
        var largest: Int32 = 0
        padded.withUnsafeBufferPointer { p in
            dx.withUnsafeMutableBufferPointer { dx in
                dy.withUnsafeMutableBufferPointer { dy in
                    magnitude.withUnsafeMutableBufferPointer { magnitude in
                        for y in 0..<height {
                            let up = y * paddedWidth + 1, mid = up + paddedWidth, down = mid + paddedWidth
                            for x in 0..<width {
                                let gx = (p[up + x + 1] - p[up + x - 1]) + 2 * (p[mid + x + 1] - p[mid + x - 1])
                                    + (p[down + x + 1] - p[down + x - 1])
                                let gy = (p[down + x - 1] - p[up + x - 1]) + 2 * (p[down + x] - p[up + x])
                                    + (p[down + x + 1] - p[up + x + 1])
                                let m = gx * gx + gy * gy
                                dx[y * width + x] = gx
                                dy[y * width + x] = gy
                                magnitude[y * width + x] = m
                                largest = max(largest, m)
                            }
                        }
                    }
                }
            }
        }
        self.width = width
        self.height = height
        self.dx = dx
        self.dy = dy
        self.squaredMagnitude = magnitude
        self.maxSquaredMagnitude = Int(largest)
    }
}

/// Non-maximum suppression and hysteresis on a Sobel gradient, with OpenCV's `Canny` decisions
/// (integer tangent tests, which neighbour wins a tie, out-of-picture magnitudes 0), so that the
/// edges are exactly OpenCV's.
struct EdgeTracer {
    let gradient: SobelGradient
    /// Squared-magnitude bounds; a pixel must exceed them.
    let low: Int
    let high: Int

    private enum Mark: UInt8 {
        case candidate = 0, rejected = 1, edge = 2
    }

    func edges() -> GreyImage {
        let width = gradient.width, height = gradient.height
        // Magnitudes and marks with a one-pixel frame (magnitude 0, never an edge), so neighbours
        // need no bounds checks.
        let stride = width + 2
        var magnitude = [Int32](repeating: 0, count: stride * (height + 2))
        for y in 0..<height {
            for x in 0..<width { magnitude[(y + 1) * stride + x + 1] = gradient.squaredMagnitude[y * width + x] }
        }
        var marks = [UInt8](repeating: Mark.rejected.rawValue, count: stride * (height + 2))
        var stack: [Int] = []
        // |dy| / |dx| is compared with tan(22.5 deg) in 15-bit fixed point (rounded, as OpenCV
        // has it) and with tan(67.5 deg) = tan(22.5 deg) + 2, without dividing.
        let shift = 15, tan22 = 13_573
        let low = self.low, high = self.high
        magnitude.withUnsafeBufferPointer { mag in
            marks.withUnsafeMutableBufferPointer { marks in
                gradient.dx.withUnsafeBufferPointer { gdx in
                    gradient.dy.withUnsafeBufferPointer { gdy in
                        for y in 0..<height {
                            for x in 0..<width {
                                let at = (y + 1) * stride + x + 1
                                let m = Int(mag[at])
                                guard m > low else { continue }
                                let sx = Int(gdx[y * width + x]), sy = Int(gdy[y * width + x])
                                let ax = abs(sx), ay = abs(sy) << shift
                                let tan22x = ax * tan22
                                let isMaximum: Bool
                                if ay < tan22x {  // near horizontal gradient: compare left and right
                                    isMaximum = m > Int(mag[at - 1]) && m >= Int(mag[at + 1])
                                } else if ay > tan22x + (ax << (shift + 1)) {  // near vertical
                                    isMaximum = m > Int(mag[at - stride]) && m >= Int(mag[at + stride])
                                } else {  // diagonal: up-left and down-right when dx, dy agree in sign
                                    let s = (sx ^ sy) < 0 ? -1 : 1
                                    isMaximum = m > Int(mag[at - stride - s]) && m > Int(mag[at + stride + s])
                                }
                                guard isMaximum else { continue }
                                if m > high {
                                    marks[at] = Mark.edge.rawValue
                                    stack.append(at)
                                } else {
                                    marks[at] = Mark.candidate.rawValue
                                }
                            }
                        }
                        // Hysteresis: every candidate 8-connected to an edge becomes one.
                        let neighbours = [-stride - 1, -stride, -stride + 1, -1, 1, stride - 1, stride, stride + 1]
                        while let at = stack.popLast() {
                            for offset in neighbours where marks[at + offset] == Mark.candidate.rawValue {
                                marks[at + offset] = Mark.edge.rawValue
                                stack.append(at + offset)
                            }
                        }
                    }
                }
            }
        }
        var out = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width where marks[(y + 1) * stride + x + 1] == Mark.edge.rawValue { out[y * width + x] = 255 }
        }
        return GreyImage(width: width, height: height, pixels: out)
    }
}
