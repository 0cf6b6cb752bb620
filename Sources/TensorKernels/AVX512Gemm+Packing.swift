#if arch(x86_64)
import CSIMD

/// Packing of A and B slivers into the micro-kernels' layouts (see `AVX512Gemm`).
extension AVX512Gemm {
    /// Packs one sliver of `operand`: rows `start..<start+extent` of op(A) (`asA`, 6 wide) or
    /// columns of op(B) (64 wide), over k `k..<k+kb`, in `precision`'s layout.
    @inline(__always)
    static func packSliver(
        _ operand: Operand, precision: Precision, asA: Bool, start: Int, extent: Int, k: Int, _ kb: Int,
        into destination: UnsafeMutableRawPointer
    ) {
        switch (precision, asA) {
        case (.float32, true): packAFloat(operand, row: start, extent, k: k, kb, into: destination)
        case (.bfloat16, true): packABFloat(operand, row: start, extent, k: k, kb, into: destination)
        case (.float32, false): packBFloat(operand, k: k, kb, column: start, extent, into: destination)
        case (.bfloat16, false): packBBFloat(operand, k: k, kb, column: start, extent, into: destination)
        }
    }

    // MARK: f32

    /// A sliver [kb][6]: rows `row..<row+rows` of op(A), k `k..<k+kb`; rows past `rows` are zero.
    static func packAFloat(_ a: Operand, row: Int, _ rows: Int, k: Int, _ kb: Int, into raw: UnsafeMutableRawPointer) {
        let dst = raw.assumingMemoryBound(to: Float.self)
        if rows < mr { dst.initialize(repeating: 0, count: kb * mr) }
        if a.transposed {
            // op(A)[i, p] = base[p·stride + i]: each k is a short contiguous run of rows.
            for p in 0..<kb {
                let src = a.base + (k + p) * a.stride + row
                for r in 0..<rows { dst[p * mr + r] = src[r] }
            }
        } else if rows == mr {
            // A whole sliver (activation rows of a linear layer): the six rows side by side, one
            // k per step, so the stores run sequentially.
            let s0 = a.base + row * a.stride + k, s1 = s0 + a.stride, s2 = s1 + a.stride
            let s3 = s2 + a.stride, s4 = s3 + a.stride, s5 = s4 + a.stride
            var out = dst
            for p in 0..<kb {
                out[0] = s0[p]; out[1] = s1[p]; out[2] = s2[p]
                out[3] = s3[p]; out[4] = s4[p]; out[5] = s5[p]
                out += mr
            }
        } else {
            for r in 0..<rows {
                let src = a.base + (row + r) * a.stride + k
                for p in 0..<kb { dst[p * mr + r] = src[p] }
            }
        }
    }

    /// B sliver [kb][64]: k `k..<k+kb`, columns `column..<column+cols` of op(B); zero-padded.
    static func packBFloat(_ b: Operand, k: Int, _ kb: Int, column: Int, _ cols: Int, into raw: UnsafeMutableRawPointer) {
        let dst = raw.assumingMemoryBound(to: Float.self)
        if b.transposed {
            // op(B)[p, j] = base[j·stride + p]: each column is a contiguous run of k.
            if cols < nr { dst.initialize(repeating: 0, count: kb * nr) }
            for j in 0..<cols {
                let src = b.base + (column + j) * b.stride + k
                for p in 0..<kb { dst[p * nr + j] = src[p] }
            }
        } else if cols == nr {
            for p in 0..<kb {
                let src = UnsafeRawPointer(b.base + (k + p) * b.stride + column)
                let out = raw + p * nr * 4
                for q in 0..<4 {
                    out.storeBytes(of: src.loadUnaligned(fromByteOffset: 64 * q, as: F16.self), toByteOffset: 64 * q, as: F16.self)
                }
            }
        } else {
            for p in 0..<kb {
                let src = b.base + (k + p) * b.stride + column, out = dst + p * nr
                out.initialize(from: src, count: cols)
                (out + cols).initialize(repeating: 0, count: nr - cols)
            }
        }
    }

    // MARK: bf16

    /// A sliver [kb/2][6] of bf16 pairs.
    static func packABFloat(_ a: Operand, row: Int, _ rows: Int, k: Int, _ kb: Int, into raw: UnsafeMutableRawPointer) {
        let dst = raw.assumingMemoryBound(to: UInt32.self)
        let pairs = (kb + 1) / 2
        if rows < mr { dst.initialize(repeating: 0, count: pairs * mr) }
        if a.transposed {
            for t in 0..<pairs {
                let even = a.base + (k + 2 * t) * a.stride + row
                let hasOdd = 2 * t + 1 < kb
                for r in 0..<rows {
                    dst[t * mr + r] = bfloatPair(even[r], hasOdd ? even[a.stride + r] : 0)
                }
            }
        } else {
            for r in 0..<rows {
                packPairs(a.base + (row + r) * a.stride + k, count: kb, into: dst + r, stride: mr)
            }
        }
    }

    /// B sliver [kb/2][64] of bf16 pairs.
    static func packBBFloat(_ b: Operand, k: Int, _ kb: Int, column: Int, _ cols: Int, into raw: UnsafeMutableRawPointer) {
        let dst = raw.assumingMemoryBound(to: UInt32.self)
        let pairs = (kb + 1) / 2
        if b.transposed {
            if cols < nr { dst.initialize(repeating: 0, count: pairs * nr) }
            for j in 0..<cols {
                packPairs(b.base + (column + j) * b.stride + k, count: kb, into: dst + j, stride: nr)
            }
            return
        }
        for t in 0..<pairs {
            let even = b.base + (k + 2 * t) * b.stride + column
            let odd: UnsafePointer<Float>? = 2 * t + 1 < kb ? even + b.stride : nil
            let out = dst + t * nr
            if cols == nr {
                // Rows k and k+1, 16 columns at a time: convert both, then interleave into pairs.
                let interleave = unsafeBitCast(pairInterleave, to: SIMD8<Int64>.self)
                for q in 0..<4 {
                    let lo = UnsafeRawPointer(even + 16 * q).loadUnaligned(as: F16.self)
                    let hi = odd.map { UnsafeRawPointer($0 + 16 * q).loadUnaligned(as: F16.self) } ?? F16()
                    let packed = sd_permutexvar_epi16(interleave, sd_cvtne2ps_pbh(hi, lo))
                    UnsafeMutableRawPointer(out + 16 * q).storeBytes(of: packed, as: SIMD8<Int64>.self)
                }
            } else {
                for j in 0..<cols { out[j] = bfloatPair(even[j], odd?[j] ?? 0) }
                (out + cols).initialize(repeating: 0, count: nr - cols)
            }
        }
    }

    /// Writes the bf16 pairs of `count` consecutive floats (the last padded with 0 when `count`
    /// is odd) to dst[0], dst[stride], ...
    @inline(__always)
    static func packPairs(_ src: UnsafePointer<Float>, count: Int, into dst: UnsafeMutablePointer<UInt32>, stride: Int) {
        var p = 0, t = 0
        while p + 32 <= count {
            let raw = UnsafeRawPointer(src + p)
            let words = unsafeBitCast(
                sd_cvtne2ps_pbh(raw.loadUnaligned(fromByteOffset: 64, as: F16.self), raw.loadUnaligned(as: F16.self)),
                to: SIMD16<UInt32>.self)
            for q in 0..<16 { dst[(t + q) * stride] = words[q] }
            p += 32
            t += 16
        }
        while p < count {
            dst[t * stride] = bfloatPair(src[p], p + 1 < count ? src[p + 1] : 0)
            p += 2
            t += 1
        }
    }
}

/// vpermw indices that interleave lanes 0-15 (even k) with 16-31 (odd k).
private let pairInterleave: SIMD32<UInt16> = {
    var v = SIMD32<UInt16>()
    for i in 0..<16 {
        v[2 * i] = UInt16(i)
        v[2 * i + 1] = UInt16(16 + i)
    }
    return v
}()

/// f32 to bf16, round to nearest even (as `vcvtne2ps2bf16`); NaN stays NaN.
@inline(__always)
func bfloat16Bits(_ x: Float) -> UInt32 {
    let bits = x.bitPattern
    if x.isNaN { return (bits >> 16) | 0x40 }
    return (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
}

@inline(__always)
func bfloatPair(_ even: Float, _ odd: Float) -> UInt32 { bfloat16Bits(even) | (bfloat16Bits(odd) << 16) }
#endif
