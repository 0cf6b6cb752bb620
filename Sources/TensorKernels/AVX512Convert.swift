#if arch(x86_64)
import CSIMD
import SIMDMath

/// Bulk conversions of stored weight encodings to f32 with AVX-512 (requires F16C/AVX-512F).
package enum AVX512Convert {
    /// dst[i] = Float(half bits src[i]) for i in 0..<count (`vcvtph2ps`, exact).
    package static func halfToFloat(_ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        var i = 0
        let out = UnsafeMutableRawPointer(dst)
        while i + 16 <= count {
            let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD4<Int64>.self)
            out.storeBytes(of: sd_cvtph_ps(h), toByteOffset: 4 * i, as: SIMD16<Float>.self)
            i += 16
        }
        if i < count {
            var tail = SIMD16<UInt16>()
            for t in 0..<(count - i) { tail[t] = src.loadUnaligned(fromByteOffset: 2 * (i + t), as: UInt16.self) }
            let f = sd_cvtph_ps(unsafeBitCast(tail, to: SIMD4<Int64>.self))
            for t in 0..<(count - i) { dst[i + t] = f[t] }
        }
    }

    /// dst[i] = Float(bf16 bits src[i]) (the `SIMDMath` source).
    package static func bfloatToFloat(_ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        SIMDMath.bfloatToFloat(src, count: count, into: dst)
    }
}
#endif
