import Tensor

/// A cheap picture of a latent, for progress previews: each latent cell becomes one pixel through
/// a linear map from the latent channels to RGB.
///
/// The map is fitted to the model's own VAE (least squares between the latent cells of an encoded
/// test card and its colours), so it works for any VAE, including the built-in model's, where
/// published fixed factors (A1111's "cheap approximation") would not.
public struct LatentPreview: Sendable {
    /// 3 rows (R, G, B) of `channels + 1` coefficients (the last is the bias), mapping to [-1, 1].
    public let coefficients: [[Double]]

    /// Fits the map on a test card: 16 blocks of solid colours (32x32 pixels each) encoded by the
    /// model's own VAE, pairing each latent cell with the colour of the 8x8 pixels it covers.
    /// Latents of real pictures are what previews show, so the fit uses them rather than noise.
    /// - Parameter encode: picture [1, 3, 128, 128] in [-1, 1] -> latent [1, C, 16, 16] (UNet scale).
    public init(fittingEncoder encode: (Tensor) -> Tensor) {
        let side = 128, block = 32, factor = 8
        let levels: [Float] = [-1, -0.2, 0.5, 1]
        var picture = [Float](repeating: 0, count: 3 * side * side)
        for y in 0..<side {
            for x in 0..<side {
                let b = (y / block) * (side / block) + x / block  // 16 blocks, 16 colours
                let rgb: [Float] = [levels[b % 4], levels[(b / 4) % 4], levels[(b * 7 + 1) % 4]]
                for c in 0..<3 { picture[c * side * side + y * side + x] = rgb[c] }
            }
        }
        let latent = encode(Tensor(shape: [1, 3, side, side], values: picture))
        let channels = latent.shape[1], cellsPerSide = side / factor, cells = cellsPerSide * cellsPerSide
        precondition(latent.shape == [1, channels, cellsPerSide, cellsPerSide], "LatentPreview: encoder gave \(latent.shape)")
        let z = latent.scalars
        // Normal equations (X^T X) w = X^T y per colour, X = [latent channels, 1] per cell.
        let n = channels + 1
        var xtx = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        var xty = [[Double]](repeating: [Double](repeating: 0, count: 3), count: n)
        for cell in 0..<cells {
            var x = (0..<channels).map { Double(z[$0 * cells + cell]) }
            x.append(1)
            let py = (cell / cellsPerSide) * factor, px = (cell % cellsPerSide) * factor
            for i in 0..<n {
                for j in 0..<n { xtx[i][j] += x[i] * x[j] }
                for c in 0..<3 { xty[i][c] += x[i] * Double(picture[c * side * side + py * side + px]) }
            }
        }
        for i in 0..<n { xtx[i][i] += 1e-6 }  // a whisper of ridge keeps a degenerate encoder solvable
        coefficients = (0..<3).map { c in LatentPreview.solve(xtx, xty.map { $0[c] }) }
    }

    /// Gaussian elimination with partial pivoting on a small symmetric system.
    static func solve(_ a: [[Double]], _ b: [Double]) -> [Double] {
        var a = a, b = b
        let n = b.count
        for col in 0..<n {
            let pivot = (col..<n).max { abs(a[$0][col]) < abs(a[$1][col]) } ?? col
            a.swapAt(col, pivot)
            b.swapAt(col, pivot)
            guard abs(a[col][col]) > 1e-12 else { continue }
            for row in (col + 1)..<n {
                let f = a[row][col] / a[col][col]
                for k in col..<n { a[row][k] -= f * a[col][k] }
                b[row] -= f * b[col]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            var sum = b[row]
            for k in (row + 1)..<n { sum -= a[row][k] * x[k] }
            x[row] = abs(a[row][row]) > 1e-12 ? sum / a[row][row] : 0
        }
        return x
    }

    /// The preview of latent [1, C, h, w]: an h x w picture.
    public func image(from latent: Tensor) -> RGBImage {
        precondition(latent.rank == 4 && latent.shape[1] + 1 == coefficients[0].count, "LatentPreview: latent \(latent.shape)")
        let channels = latent.shape[1], h = latent.shape[2], w = latent.shape[3], cells = h * w
        let z = latent.scalars
        var pixels = [UInt8](repeating: 0, count: cells * 3)
        for cell in 0..<cells {
            for c in 0..<3 {
                var v = coefficients[c][channels]
                for k in 0..<channels { v += coefficients[c][k] * Double(z[k * cells + cell]) }
                pixels[cell * 3 + c] = UInt8(min(max((v + 1) / 2, 0), 1) * 255 + 0.5)
            }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }
}
