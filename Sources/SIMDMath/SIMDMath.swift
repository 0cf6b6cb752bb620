/// Vector math shared by the baseline kernels (`Tensor`), the AVX2 ones (`TensorKernelsAVX2`) and
/// the AVX-512 ones (`TensorKernels`).
///
/// Everything here is `@_transparent`: inlined into the caller before optimization, so each
/// caller's module compiles it for its own instruction set (the same source runs as SSE in
/// `Tensor` and as AVX-512 in `TensorKernels`, with no second copy to keep in step). Plain
/// `@inlinable @inline(__always)` was not inlined across modules here, leaving the AVX-512
/// attention calling the SSE build of `softmaxExp` (measured 2.4x slower).
public enum SIMDMath {
    /// Lane-wise a where mask else b. (A bit-operation blend of the sign-extended mask compiled
    /// to per-lane mask shuffling for AVX-512, several times slower than this compare-and-blend.)
    @_transparent
    public static func select(_ mask: SIMDMask<SIMD16<Int32>>, _ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        b.replacing(with: a, where: mask)
    }

    /// Lane-wise maximum.
    @_transparent
    public static func max(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { select(a .> b, a, b) }

    /// Lane-wise minimum.
    @_transparent
    public static func min(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { select(a .< b, a, b) }

    /// e^x for 16 lanes; error within 1 ulp over [−87.3, 88.3] (measured: 0.99 ulp worst in the tests).
    ///
    /// Classic Cody–Waite reduction: x = n·ln2 + r with |r| ≤ ln2/2, then a degree-6 minimax
    /// polynomial for e^r (the Cephes `expf` coefficients) and a scale by 2^n built from the
    /// exponent bits. Inputs below −87.33 (where e^x leaves the normal range) flush to 0, inputs
    /// in (88.37, 88.72] saturate near 2.4e38 (true value up to 3.4e38) and larger ones give +∞;
    /// every caller (softmax, sigmoid, tanh) tolerates this.
    @_transparent
    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        // Largest x whose n = round(x·log2 e) is 127, so 2^n stays a normal float.
        let upper: Float = 88.376_26
        let lower: Float = -87.33654
        let clamped = min(max(x, SIMD16(repeating: lower)), SIMD16(repeating: upper))
        // Round x·log2(e) to the nearest integer with the 1.5·2^23 trick: adding it pushes the
        // fraction bits out of the mantissa, so the low mantissa bits then hold n.
        let magic = SIMD16<Float>(repeating: 12_582_912)
        let shifted = clamped * 1.442_695_04 + magic
        let n = shifted - magic
        // Two-constant ln2 keeps r exact enough: c1 has few mantissa bits so n·c1 is exact.
        var r = clamped - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        let r2 = r * r
        var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * r2 + r + 1
        // 2^n: n (an integer in [-126, 127] after the clamp) sits in the low bits of `shifted`;
        // move it, biased, into the exponent field.
        let nBits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: SIMD16<Float>.self)
        let result = p * scale
        // Below the range the result flushes to 0; past ln(Float.greatestFiniteMagnitude) it is +∞
        // (as libm), which keeps x·sigmoid(x) at −0 for huge negative x instead of x·(1/2.4e38).
        let inRange = select(x .>= lower, result, SIMD16(repeating: 0))
        return select(x .> 88.722_84, SIMD16(repeating: .infinity), inRange)
    }

    /// e^x for 16 lanes, within 2 ulp on [-87, 88], for softmax: inputs below -87.3 give ~1e-38
    /// instead of 0 (irrelevant next to the row maximum's 1) and nothing is checked past the range,
    /// which keeps it to compare-and-blend clamps and the polynomial (the attention hot loop).
    @_transparent
    public static func softmaxExp(_ input: SIMD16<Float>) -> SIMD16<Float> {
        typealias Vector = SIMD16<Float>
        // Clamped with compare-and-blend: the stdlib's pointwiseMin/Max handle NaN lane by lane
        // and compile to a scalar loop, which made this function ~10x slower.
        let low = Vector(repeating: -87.33654), high = Vector(repeating: 88.37626)
        var x = input.replacing(with: low, where: input .< low)
        x.replace(with: high, where: x .> high)
        // Adding 1.5·2^23 rounds x/ln2 to an integer held in the low mantissa bits.
        let magic = Vector(repeating: 12_582_912)
        let shifted = x * Vector(repeating: 1.442_695_04) + magic
        let n = shifted - magic
        // Two-part ln2 keeps r exact to float precision (Cody–Waite).
        var r = x - n * Vector(repeating: 0.693_359_375)
        r = r - n * Vector(repeating: -2.121_944_4e-4)
        var p = Vector(repeating: 1.987_569_15e-4)
        p = p * r + Vector(repeating: 1.398_199_95e-3)
        p = p * r + Vector(repeating: 8.333_451_9e-3)
        p = p * r + Vector(repeating: 4.166_579_59e-2)
        p = p * r + Vector(repeating: 1.666_666_55e-1)
        p = p * r + Vector(repeating: 5.000_000_12e-1)
        let er = p * r * r + r + Vector(repeating: 1)
        // n is the integer difference of the bit patterns; 2^n = (n + 127) << 23 as a float.
        let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let twoToN = unsafeBitCast((integer &+ 127) &<< 23, to: Vector.self)
        return er * twoToN
    }

    /// Φ(x), the standard normal CDF, for 16 lanes, with a relative error below 1e-6 down to
    /// x = −12 (Φ = 2e-33; tested) and absolute error ~1e-7 elsewhere, so x·Φ(x), the exact GELU,
    /// keeps its relative accuracy for negative x too.
    ///
    /// Φ(x) = erfc(−x/√2)/2. With z = |x|/√2, erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2), P the
    /// degree-9 Chebyshev fit of Numerical Recipes' `erfcc` (fractional error < 1.2e-7 for all
    /// z ≥ 0); then Φ = erfc/2 for x < 0 and 1 − erfc/2 for x ≥ 0. z² = x²/2 is split as
    /// (xh² + (x−xh)(x+xh))/2 with xh holding 12 mantissa bits, so exp(−z²) keeps its accuracy
    /// where z² is large.
    @_transparent
    public static func normalCDF(_ x: SIMD16<Float>) -> SIMD16<Float> {
        typealias Vector = SIMD16<Float>
        let magnitude = unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: Vector.self)
        // Past 13·√2 the tail is below Float's range; clamping keeps t and the exps finite.
        let z = min(magnitude * 0.707_106_77, Vector(repeating: 13))
        let t = 1 / (1 + 0.5 * z)
        var p = Vector(repeating: 0.170_872_77)
        p = p * t - 0.822_152_23
        p = p * t + 1.488_515_87
        p = p * t - 1.135_203_98
        p = p * t + 0.278_868_07
        p = p * t - 0.186_288_06
        p = p * t + 0.096_784_18
        p = p * t + 0.374_091_96
        p = p * t + 1.000_023_68
        p = p * t - 1.265_512_23
        // z² = x²/2 from |x| split in halves (not from the rounded z, whose error z² would scale).
        let a = min(magnitude, Vector(repeating: 18.3848))
        let high = unsafeBitCast(unsafeBitCast(a, to: SIMD16<UInt32>.self) & 0xFFFF_F000, to: Vector.self)
        let low = 0.5 * ((a - high) * (a + high))
        let erfc = t * exp(-(0.5 * (high * high))) * exp(p - low)
        let half = 0.5 * erfc
        return select(x .< 0, half, 1 - half)
    }

    /// Exact GELU, x·Φ(x), for 16 lanes (see `normalCDF`).
    @_transparent
    public static func gelu(_ x: SIMD16<Float>) -> SIMD16<Float> { x * normalCDF(x) }

    /// GEGLU rows: out[r, j] = x[r, j] · gelu(x[r, width + j]) for each row r of 2·width inputs.
    @_transparent
    public static func gegluRows(
        _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Range<Int>, width: Int
    ) {
        for r in rows {
            let hidden = x + r * 2 * width, gate = hidden + width, o = out + r * width
            var j = 0
            while j + 16 <= width {
                let h = UnsafeRawPointer(hidden + j).loadUnaligned(as: SIMD16<Float>.self)
                let g = UnsafeRawPointer(gate + j).loadUnaligned(as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(o + j).storeBytes(of: h * gelu(g), as: SIMD16<Float>.self)
                j += 16
            }
            if j < width {
                var g = SIMD16<Float>(repeating: 0)
                for t in 0..<(width - j) { g[t] = gate[j + t] }
                let v = gelu(g)
                for t in 0..<(width - j) { o[j + t] = hidden[j + t] * v[t] }
            }
        }
    }

    /// Mean and biased variance of `n` contiguous floats, two-pass. Float SIMD partial sums cover
    /// at most 4096 elements (16 lanes × 256 adds) before being added into Double: a 512×512 VAE
    /// group holds 4M elements, beyond what one Float accumulator or E[x²] − E[x]² keeps accurate.
    @_transparent
    public static func meanAndVariance(_ x: UnsafePointer<Float>, _ n: Int) -> (Double, Double) {
        guard n > 0 else { return (0, 0) }
        let block = 4096
        let raw = UnsafeRawPointer(x)
        var total = 0.0
        var start = 0
        while start < n {
            let end = Swift.min(start + block, n)
            var acc = SIMD16<Float>(repeating: 0)
            var i = start
            while i + 16 <= end {
                acc += raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
                i += 16
            }
            var partial = Double(acc.sum())
            while i < end {
                partial += Double(x[i])
                i += 1
            }
            total += partial
            start = end
        }
        let mean = total / Double(n)
        let m = Float(mean), vm = SIMD16<Float>(repeating: m)
        var squares = 0.0
        start = 0
        while start < n {
            let end = Swift.min(start + block, n)
            var acc = SIMD16<Float>(repeating: 0)
            var i = start
            while i + 16 <= end {
                let d = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) - vm
                acc += d * d
                i += 16
            }
            var partial = Double(acc.sum())
            while i < end {
                let d = Double(x[i]) - mean
                partial += d * d
                i += 1
            }
            squares += partial
            start = end
        }
        // Centering on the Float-rounded mean leaves a bias of (mean − m)²; remove it exactly.
        let offset = mean - Double(m)
        return (mean, Swift.max(0, squares / Double(n) - offset * offset))
    }

    /// dst = src·a + b over one row, optionally followed by SiLU (x·sigmoid(x)); the tail goes
    /// through the same vector path, zero-padded, so every element gets the same arithmetic.
    @_transparent
    public static func affineRow(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ a: Float, _ b: Float, silu: Bool
    ) {
        let va = SIMD16<Float>(repeating: a), vb = SIMD16<Float>(repeating: b)
        let input = UnsafeRawPointer(src), output = UnsafeMutableRawPointer(dst)
        var i = 0
        if silu {
            while i + 16 <= n {
                let y = input.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) * va + vb
                output.storeBytes(of: y * (1 / (1 + exp(-y))), toByteOffset: 4 * i, as: SIMD16<Float>.self)
                i += 16
            }
            if i < n {
                var v = SIMD16<Float>(repeating: 0)
                for j in 0..<(n - i) { v[j] = src[i + j] }
                let y = v * va + vb
                let r = y * (1 / (1 + exp(-y)))
                for j in 0..<(n - i) { dst[i + j] = r[j] }
            }
        } else {
            while i + 16 <= n {
                let y = input.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) * va + vb
                output.storeBytes(of: y, toByteOffset: 4 * i, as: SIMD16<Float>.self)
                i += 16
            }
            while i < n {
                dst[i] = src[i] * a + b
                i += 1
            }
        }
    }

    /// dst[i] = Float(bf16 bits src[i]) for i in 0..<count (exact: bf16 is the top half of an f32).
    @_transparent
    public static func bfloatToFloat(_ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        var i = 0
        let out = UnsafeMutableRawPointer(dst)
        while i + 16 <= count {
            let h = SIMD16<UInt32>(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self))
            out.storeBytes(of: h &<< 16, toByteOffset: 4 * i, as: SIMD16<UInt32>.self)
            i += 16
        }
        while i < count {
            dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            i += 1
        }
    }

    /// One key block of an online softmax (flash attention) over `rows` score rows of `n`:
    /// for each row i, m' = max(m_i, max_j S_ij), S_ij = exp(S_ij - m'), l_i = l_i·exp(m_i - m') +
    /// Σ_j S_ij, the row of O (`acc`, width dv) scaled by exp(m_i - m') unless this is the first
    /// block (whose P·V overwrites it), and m_i = m'.
    @_transparent
    public static func onlineSoftmaxRows(
        _ scores: UnsafeMutablePointer<Float>, rows: Int, n: Int, runningMax: UnsafeMutablePointer<Float>,
        runningSum: UnsafeMutablePointer<Float>, acc: UnsafeMutablePointer<Float>, dv: Int, firstBlock: Bool
    ) {
        for i in 0..<rows {
            let row = UnsafeMutableRawPointer(scores + i * n)
            var best = SIMD16<Float>(repeating: -.infinity)
            var j = 0
            while j + 16 <= n {
                best = max(best, row.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self))
                j += 16
            }
            var rowMax = best.max()
            while j < n {
                rowMax = Swift.max(rowMax, scores[i * n + j])
                j += 1
            }
            let previous = runningMax[i]
            let newMax = Swift.max(previous, rowMax)
            let shift = SIMD16<Float>(repeating: newMax)
            var sum = SIMD16<Float>()
            j = 0
            while j + 16 <= n {
                let e = softmaxExp(row.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) - shift)
                row.storeBytes(of: e, toByteOffset: 4 * j, as: SIMD16<Float>.self)
                sum += e
                j += 16
            }
            if j < n {
                // Tail: pad with a value whose exp is 0 and write back only the real lanes.
                var tail = SIMD16<Float>(repeating: -.infinity)
                for t in 0..<(n - j) { tail[t] = scores[i * n + j + t] }
                let e = softmaxExp(tail - shift)
                for t in 0..<(n - j) { scores[i * n + j + t] = e[t] }
                sum += e
            }
            // exp(-inf) = 0 on the first block.
            let correction = softmaxExp(SIMD16<Float>(repeating: previous - newMax))[0]
            runningSum[i] = runningSum[i] * correction + sum.sum()
            runningMax[i] = newMax
            if !firstBlock && correction != 1 {
                let o = acc + i * dv
                for c in 0..<dv { o[c] *= correction }
            }
        }
    }
}
