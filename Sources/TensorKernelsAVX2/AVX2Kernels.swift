#if arch(x86_64)
import CSIMD
import SIMDMath

/// Conversions of stored weight elements compiled for AVX2, FMA and F16C (the `avx2` level).
package enum AVX2Convert {
    /// dst[i] = Float(half bits src[i]) for i in 0..<count (`vcvtph2ps`, exact; a signalling NaN
    /// comes out quiet, as from every hardware conversion).
    package static func halfToFloat(_ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        var i = 0
        let out = UnsafeMutableRawPointer(dst)
        while i + 8 <= count {
            let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD2<Int64>.self)
            out.storeBytes(of: sd_cvtph_ps256(h), toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        if i < count {
            var tail = SIMD8<UInt16>()
            for t in 0..<(count - i) { tail[t] = src.loadUnaligned(fromByteOffset: 2 * (i + t), as: UInt16.self) }
            let f = sd_cvtph_ps256(unsafeBitCast(tail, to: SIMD2<Int64>.self))
            for t in 0..<(count - i) { dst[i + t] = f[t] }
        }
    }

    /// dst[i] = Float(bf16 bits src[i]) (the `SIMDMath` source).
    package static func bfloatToFloat(_ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        SIMDMath.bfloatToFloat(src, count: count, into: dst)
    }

    /// Decodes `blocks` q8_0 blocks (an f16 scale, then 32 int8) at `src` into 32·blocks floats:
    /// y = d · q, the same product as the scalar decoder, so the same values.
    package static func q8_0(_ src: UnsafeRawPointer, blocks: Int, into dst: UnsafeMutablePointer<Float>) {
        let out = UnsafeMutableRawPointer(dst)
        for b in 0..<blocks {
            let block = src + 34 * b
            var bits = SIMD8<UInt16>()
            bits[0] = block.loadUnaligned(as: UInt16.self)
            let d = SIMD8<Float>(repeating: sd_cvtph_ps256(unsafeBitCast(bits, to: SIMD2<Int64>.self))[0])
            for g in 0..<4 {
                let q = SIMD8<Int32>(truncatingIfNeeded: block.loadUnaligned(fromByteOffset: 2 + 8 * g, as: SIMD8<Int8>.self))
                out.storeBytes(of: d * SIMD8<Float>(q), toByteOffset: 4 * (32 * b + 8 * g), as: SIMD8<Float>.self)
            }
        }
    }
}

/// Activation loops compiled for AVX2 and FMA (the same `SIMDMath` source as the baseline ones).
package enum AVX2Activations {
    /// GEGLU rows: out[r, j] = x[r, j] · gelu(x[r, width + j]) for `rows` rows of 2·width inputs.
    package static func geglu(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Range<Int>, width: Int) {
        SIMDMath.gegluRows(x, out, rows: rows, width: width)
    }
}

/// The softmax of the OpenBLAS-level flash attention compiled for AVX2 and FMA (the `SIMDMath`
/// source).
package enum AVX2Attention {
    package static func onlineSoftmaxRows(
        _ scores: UnsafeMutablePointer<Float>, rows: Int, n: Int, runningMax: UnsafeMutablePointer<Float>,
        runningSum: UnsafeMutablePointer<Float>, acc: UnsafeMutablePointer<Float>, dv: Int, firstBlock: Bool
    ) {
        SIMDMath.onlineSoftmaxRows(
            scores, rows: rows, n: n, runningMax: runningMax, runningSum: runningSum, acc: acc, dv: dv,
            firstBlock: firstBlock)
    }
}

/// The input and output transforms of Winograd F(4x4, 3x3) compiled for AVX2 (the `SIMDMath`
/// source, `WinogradF4x3`).
package enum AVX2Winograd {
    package static func transformInput(
        _ input: UnsafePointer<Float>, grid: WinogradF4x3.TileGrid, cin: Int, tiles: Range<Int>,
        into v: UnsafeMutablePointer<Float>, stride: Int, positionStride: Int, scratch: UnsafeMutablePointer<Float>
    ) {
        WinogradF4x3.transformInput(
            input, grid: grid, cin: cin, tiles: tiles, into: v, stride: stride, positionStride: positionStride,
            scratch: scratch)
    }

    package static func transformOutput(
        _ m: UnsafePointer<Float>, stride: Int, positionStride: Int, grid: WinogradF4x3.TileGrid, channels: Range<Int>,
        cout: Int, tiles: Range<Int>, bias: UnsafePointer<Float>?, into output: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>
    ) {
        WinogradF4x3.transformOutput(
            m, stride: stride, positionStride: positionStride, grid: grid, channels: channels, cout: cout, tiles: tiles,
            bias: bias, into: output, scratch: scratch)
    }
}

/// Row loops of the normalizations compiled for AVX2 and FMA (the `SIMDMath` source).
package enum AVX2Rows {
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
