import TensorKernelsAVX2

/// Dequantization of the GGUF block formats, bit-exact with ggml's `dequantize_row_*` and with the
/// `gguf` Python package.
///
/// Exactness comes from doing the same float32 operations in the same order as ggml: products are
/// formed as ggml groups them (`(d * scale) * q`, then `- dmin * min`), never fused into an FMA.
/// Layouts and formulas: engine-reference.md §4.6. Blocks run along the innermost dimension; fp16
/// fields sit at odd offsets inside packed blocks, so they are loaded unaligned.
public enum QuantizedBlocks {
    /// Decodes `count` elements (a whole number of blocks) of block type `dtype` from `source`
    /// into `destination`. No allocation; one pass over the blocks.
    public static func decode(
        _ dtype: DType, from source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        precondition(count % dtype.blockSize == 0, "QuantizedBlocks.decode: \(count) elements of \(dtype)")
        let blocks = count / dtype.blockSize
        #if arch(x86_64)
        // The OpenBLAS levels' GEMMs decode q8_0 weights tile by tile on every use.
        if dtype == .q8_0, CPUKernels.active >= .avx2 { return AVX2Convert.q8_0(source, blocks: blocks, into: destination) }
        #endif
        let kernel: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void
        switch dtype {
        case .q4_0: kernel = q4_0
        case .q4_1: kernel = q4_1
        case .q5_0: kernel = q5_0
        case .q5_1: kernel = q5_1
        case .q8_0: kernel = q8_0
        case .q2_K: kernel = q2_K
        case .q3_K: kernel = q3_K
        case .q4_K: kernel = q4_K
        case .q5_K: kernel = q5_K
        case .q6_K: kernel = q6_K
        case .q8_K: kernel = q8_K
        default: preconditionFailure("QuantizedBlocks.decode: \(dtype) is not a block type")
        }
        for b in 0..<blocks {
            kernel(source + b * dtype.blockBytes, destination + b * dtype.blockSize)
        }
    }

    @inline(__always)
    private static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Dequantization.halfToFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    private static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    // MARK: - 32-element blocks

    /// d, qs[16]: y = d * (nibble - 8); low nibbles are elements 0..15, high nibbles 16..31.
    private static func q4_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        for j in 0..<16 {
            let q = byte(x, 2 + j)
            y[j] = d * Float(Int32(q & 15) - 8)
            y[j + 16] = d * Float(Int32(q >> 4) - 8)
        }
    }

    /// d, m, qs[16]: y = d * nibble + m.
    private static func q4_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0), m = half(x, 2)
        for j in 0..<16 {
            let q = byte(x, 4 + j)
            y[j] = d * Float(q & 15) + m
            y[j + 16] = d * Float(q >> 4) + m
        }
    }

    /// d, qh (u32: bit j is the fifth bit of element j), qs[16]: y = d * (q5 - 16).
    private static func q5_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        let qh = UInt32(littleEndian: x.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(x, 6 + j)
            let lo = Int32(q & 15) | Int32((qh &>> UInt32(j)) & 1) << 4
            let hi = Int32(q >> 4) | Int32((qh &>> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(lo - 16)
            y[j + 16] = d * Float(hi - 16)
        }
    }

    /// d, m, qh, qs[16]: y = d * q5 + m.
    private static func q5_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0), m = half(x, 2)
        let qh = UInt32(littleEndian: x.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(x, 8 + j)
            let lo = UInt32(q & 15) | ((qh &>> UInt32(j)) & 1) << 4
            let hi = UInt32(q >> 4) | ((qh &>> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(lo) + m
            y[j + 16] = d * Float(hi) + m
        }
    }

    /// d, qs[32] (int8): y = d * q.
    private static func q8_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        for j in 0..<32 { y[j] = d * Float(Int8(bitPattern: byte(x, 2 + j))) }
    }

    // MARK: - 256-element K blocks

    /// scales[16] (low nibble scale, high nibble min), qs[64] (2-bit), d, dmin.
    /// Element 128h + 32j + 16s + l uses scales[8h + 2j + s] and bits 2j of qs[32h + 16s + l].
    private static func q2_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 80), dmin = half(x, 82)
        var out = y
        for h in 0..<2 {
            let qs = 16 + 32 * h
            for j in 0..<4 {
                let shift = UInt8(2 * j)
                for s in 0..<2 {
                    let sc = byte(x, 8 * h + 2 * j + s)
                    let dl = d * Float(sc & 15), ml = dmin * Float(sc >> 4)
                    for l in 0..<16 {
                        out[l] = dl * Float((byte(x, qs + 16 * s + l) &>> shift) & 3) - ml
                    }
                    out += 16
                }
            }
        }
    }

    /// hmask[32], qs[64] (low 2 bits), scales[12] (16 six-bit scales, biased by 32), d.
    /// A clear hmask bit subtracts 4 from the 2-bit value (the high bit is stored inverted).
    private static func q3_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 108)
        let sc = 96  // offset of scales[12]
        var out = y
        for h in 0..<2 {
            let qs = 32 + 32 * h
            for j in 0..<4 {
                let shift = UInt8(2 * j)
                let mask = UInt8(1) &<< UInt8(4 * h + j)
                for s in 0..<2 {
                    // Scale k: low 4 bits in byte k (or the high nibble of byte k - 8), high 2 bits
                    // in byte 8 + k % 4 at bit 2 * (k / 4).
                    let k = 8 * h + 2 * j + s
                    let low = k < 8 ? byte(x, sc + k) & 15 : byte(x, sc + k - 8) >> 4
                    let high = (byte(x, sc + 8 + k % 4) &>> UInt8(2 * (k / 4))) & 3
                    let dl = d * Float(Int32(low | high << 4) - 32)
                    for l in 0..<16 {
                        let q2 = Int32((byte(x, qs + 16 * s + l) &>> shift) & 3)
                        let hb = byte(x, 16 * s + l) & mask
                        out[l] = dl * Float(q2 - (hb != 0 ? 0 : 4))
                    }
                    out += 16
                }
            }
        }
    }

    /// The k-th six-bit (scale, min) pair of the 12-byte K-quant scale field at `sc`
    /// (ggml `get_scale_min_k4`).
    @inline(__always)
    private static func scaleMin(_ x: UnsafeRawPointer, _ sc: Int, _ k: Int) -> (Float, Float) {
        if k < 4 {
            return (Float(byte(x, sc + k) & 63), Float(byte(x, sc + k + 4) & 63))
        }
        let s = (byte(x, sc + k + 4) & 15) | ((byte(x, sc + k - 4) >> 6) << 4)
        let m = (byte(x, sc + k + 4) >> 4) | ((byte(x, sc + k) >> 6) << 4)
        return (Float(s), Float(m))
    }

    /// d, dmin, scales[12], qs[128]: four 64-element groups, low nibbles then high nibbles.
    private static func q4_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0), dmin = half(x, 2)
        for p in 0..<4 {
            let (s1, m1) = scaleMin(x, 4, 2 * p), (s2, m2) = scaleMin(x, 4, 2 * p + 1)
            let d1 = d * s1, dm1 = dmin * m1, d2 = d * s2, dm2 = dmin * m2
            let qs = 16 + 32 * p
            let out = y + 64 * p
            for l in 0..<32 {
                let q = byte(x, qs + l)
                out[l] = d1 * Float(q & 15) - dm1
                out[l + 32] = d2 * Float(q >> 4) - dm2
            }
        }
    }

    /// d, dmin, scales[12], qh[32], qs[128]: as Q4_K, plus 16 when bit 2p (low nibble) or 2p + 1
    /// (high nibble) of qh[l] is set.
    private static func q5_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0), dmin = half(x, 2)
        for p in 0..<4 {
            let (s1, m1) = scaleMin(x, 4, 2 * p), (s2, m2) = scaleMin(x, 4, 2 * p + 1)
            let d1 = d * s1, dm1 = dmin * m1, d2 = d * s2, dm2 = dmin * m2
            let lowBit = UInt8(1) &<< UInt8(2 * p), highBit = UInt8(2) &<< UInt8(2 * p)
            let qs = 48 + 32 * p
            let out = y + 64 * p
            for l in 0..<32 {
                let q = byte(x, qs + l), qh = byte(x, 16 + l)
                out[l] = d1 * Float((q & 15) | (qh & lowBit != 0 ? 16 : 0)) - dm1
                out[l + 32] = d2 * Float((q >> 4) | (qh & highBit != 0 ? 16 : 0)) - dm2
            }
        }
    }

    /// ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d: y = d * scale * (q6 - 32).
    private static func q6_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 208)
        for h in 0..<2 {
            let ql = 64 * h, qh = 128 + 32 * h, sc = 192 + 8 * h
            // Elements l < 16 and l >= 16 of each 32-run use scales g = 0 and 1: hoist them.
            for g in 0..<2 {
                let d1 = d * scale(x, sc + g), d2 = d * scale(x, sc + g + 2)
                let d3 = d * scale(x, sc + g + 4), d4 = d * scale(x, sc + g + 6)
                let out = y + 128 * h
                for l in (16 * g)..<(16 * g + 16) {
                    let a = byte(x, ql + l), b = byte(x, ql + l + 32), hb = byte(x, qh + l)
                    let q1 = Int32((a & 15) | (hb & 3) << 4) - 32
                    let q2 = Int32((b & 15) | ((hb >> 2) & 3) << 4) - 32
                    let q3 = Int32((a >> 4) | ((hb >> 4) & 3) << 4) - 32
                    let q4 = Int32((b >> 4) | ((hb >> 6) & 3) << 4) - 32
                    out[l] = d1 * Float(q1)
                    out[l + 32] = d2 * Float(q2)
                    out[l + 64] = d3 * Float(q3)
                    out[l + 96] = d4 * Float(q4)
                }
            }
        }
    }

    @inline(__always)
    private static func scale(_ x: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Int8(bitPattern: byte(x, offset)))
    }

    /// d (f32), qs[256] (int8), bsums[16] (unused here): y = d * q. ggml only produces it for
    /// activations, but it is a valid GGUF tensor type.
    private static func q8_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Float(bitPattern: UInt32(littleEndian: x.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        for j in 0..<256 { y[j] = d * Float(Int8(bitPattern: byte(x, 4 + j))) }
    }
}
