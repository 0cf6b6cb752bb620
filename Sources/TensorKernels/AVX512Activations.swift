#if arch(x86_64)
import SIMDMath

/// Activation loops compiled for AVX-512 (the same `SIMDMath` source as the baseline ones).
package enum AVX512Activations {
    /// GEGLU rows: out[r, j] = x[r, j] · gelu(x[r, width + j]) for `rows` rows of 2·width inputs.
    package static func geglu(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Range<Int>, width: Int) {
        SIMDMath.gegluRows(x, out, rows: rows, width: width)
    }
}

/// Row loops of the normalizations compiled for AVX-512 (the `SIMDMath` source).
package enum AVX512Rows {
    package static func meanAndVariance(_ x: UnsafePointer<Float>, _ n: Int) -> (Double, Double) {
        SIMDMath.meanAndVariance(x, n)
    }

    package static func affineRow(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ a: Float, _ b: Float, silu: Bool
    ) {
        SIMDMath.affineRow(src, dst, n, a, b, silu: silu)
    }
}
#endif
