#if arch(x86_64)
import CSIMD

/// Linear layers over q8_0 weights with VNNI int8 dot products (`vpdpbusd`), ggml's q8_0·q8_0
/// scheme: activations are quantized per row and per 32-element block to int8 with an f32 scale,
/// and out[m, n] = Σ_b d_a[m, b]·d_w[n, b]·Σ_{i<32} a_q[m, 32b+i]·w_q[n, 32b+i].
///
/// `vpdpbusd` multiplies unsigned by signed bytes, so activations are stored as a_q + 128 and each
/// weight block carries −128·Σ w_q, the start value of its int32 sums. Tile: 3 rows x 64 columns
/// (12 int32 and 12 f32 accumulators).
///
/// Packed weight (B), per 64-column sliver and K block of 32: 8 groups of [64 columns][4 bytes]
/// (2048 B), 64 f32 scales, 64 int32 start values: 2560 bytes, 1.25 bytes per weight.
/// Packed activations (A), per 3-row sliver and K block: 8 groups of [3 rows][4 bytes], 3 f32
/// scales: 112 bytes (with padding).
package enum AVX512Int8Gemm {
    static let mr = 3
    static let nr = 64
    static let weightBlockBytes = 2560
    static let activationBlockBytes = 112
    /// Activation rows quantized per pass (a multiple of 3): their packed block stays in L2.
    static let rowBlock = 48

    /// Bytes of a packed [n, k] q8_0 weight (k a multiple of 32).
    package static func packedWeightBytes(n: Int, k: Int) -> Int { (n + nr - 1) / nr * (k / 32) * weightBlockBytes }

    /// Packs the q8_0 rows `firstRow..<firstRow+count` of a weight (`k` per row, blocks of 34 bytes:
    /// f16 scale, 32 int8) into `destination` (the whole packed weight). `firstRow` is a multiple of 64.
    package static func packWeight(
        q8Rows: UnsafeRawPointer, firstRow: Int, count: Int, k: Int, into destination: UnsafeMutableRawPointer
    ) {
        let blocks = k / 32
        for start in stride(from: 0, to: count, by: nr) {
            let sliver = destination + (firstRow + start) / nr * blocks * weightBlockBytes
            let cols = min(nr, count - start)
            for b in 0..<blocks {
                let out = sliver + b * weightBlockBytes
                out.initializeMemory(as: UInt8.self, repeating: 0, count: weightBlockBytes)
                let scales = (out + 2048).assumingMemoryBound(to: Float.self)
                let starts = (out + 2304).assumingMemoryBound(to: Int32.self)
                for c in 0..<cols {
                    let block = q8Rows + (start + c) * blocks * 34 + b * 34
                    scales[c] = sd_half_to_float(block.loadUnaligned(as: UInt16.self))
                    var sum: Int32 = 0
                    for i in 0..<32 {
                        let w = block.load(fromByteOffset: 2 + i, as: Int8.self)
                        sum += Int32(w)
                        out.storeBytes(of: w, toByteOffset: (i / 4) * 256 + c * 4 + i % 4, as: Int8.self)
                    }
                    starts[c] = -128 * sum
                }
            }
        }
    }

    /// Bytes of scratch `multiply` needs.
    package static func scratchBytes(k: Int) -> Int { rowBlock / mr * (k / 32) * activationBlockBytes + mr * nr * 4 }

    /// out[m, n] (+)= act[m, :] · Wᵀ for rows of `act` (f32, `actStride` apart) and the packed
    /// weight's columns `0..<n`, starting at sliver `firstSliver`. `accumulate` adds to out.
    package static func multiply(
        m: Int, n: Int, k: Int, activations: UnsafePointer<Float>, actStride: Int,
        weight: UnsafeRawPointer, firstSliver: Int, out: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        scratch: UnsafeMutableRawPointer
    ) {
        let blocks = k / 32
        let packedA = scratch
        let edge = (scratch + rowBlock / mr * blocks * activationBlockBytes).assumingMemoryBound(to: Float.self)
        for m0 in stride(from: 0, to: m, by: rowBlock) {
            let rows = min(rowBlock, m - m0)
            quantize(activations + m0 * actStride, stride: actStride, rows: rows, blocks: blocks, into: packedA)
            for jr in stride(from: 0, to: n, by: nr) {
                let bSliver = weight + (firstSliver + jr / nr) * blocks * weightBlockBytes
                for ir in stride(from: 0, to: rows, by: mr) {
                    let tile = Tile(
                        c: out + (m0 + ir) * ldc + jr, ldc: ldc, rows: min(mr, rows - ir), cols: min(nr, n - jr),
                        accumulate: accumulate, alpha: 1, edge: edge)
                    kernel(packedA + (ir / mr) * blocks * activationBlockBytes, bSliver, blocks: blocks, tile)
                }
            }
        }
    }

    /// Quantizes `rows` rows (padded to whole 3-row slivers with zeros) into the packed layout.
    static func quantize(
        _ x: UnsafePointer<Float>, stride: Int, rows: Int, blocks: Int, into packed: UnsafeMutableRawPointer
    ) {
        let slivers = (rows + mr - 1) / mr
        for s in 0..<slivers {
            for r in 0..<mr {
                let row = s * mr + r
                for b in 0..<blocks {
                    let out = packed + (s * blocks + b) * activationBlockBytes
                    guard row < rows else {
                        for g in 0..<8 { out.storeBytes(of: UInt32(0x8080_8080), toByteOffset: g * 12 + 4 * r, as: UInt32.self) }
                        out.storeBytes(of: Float(0), toByteOffset: 96 + 4 * r, as: Float.self)
                        continue
                    }
                    let src = UnsafeRawPointer(x + row * stride + b * 32)
                    let v0 = src.loadUnaligned(as: SIMD16<Float>.self)
                    let v1 = src.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
                    let magnitude = max(absolute(v0).max(), absolute(v1).max())
                    let scale = magnitude / 127
                    let inverse = magnitude > 0 ? 127 / magnitude : 0
                    let bias = SIMD16<Int32>(repeating: 128)
                    let q0 = unsafeBitCast(sd_cvtps_epi32(v0 * inverse), to: SIMD16<Int32>.self) &+ bias
                    let q1 = unsafeBitCast(sd_cvtps_epi32(v1 * inverse), to: SIMD16<Int32>.self) &+ bias
                    let b0 = unsafeBitCast(sd_cvtepi32_epi8(unsafeBitCast(q0, to: SIMD8<Int64>.self)), to: SIMD4<UInt32>.self)
                    let b1 = unsafeBitCast(sd_cvtepi32_epi8(unsafeBitCast(q1, to: SIMD8<Int64>.self)), to: SIMD4<UInt32>.self)
                    for g in 0..<4 {
                        out.storeBytes(of: b0[g], toByteOffset: g * 12 + 4 * r, as: UInt32.self)
                        out.storeBytes(of: b1[g], toByteOffset: (g + 4) * 12 + 4 * r, as: UInt32.self)
                    }
                    out.storeBytes(of: scale, toByteOffset: 96 + 4 * r, as: Float.self)
                }
            }
        }
    }

    @inline(__always)
    static func absolute(_ v: SIMD16<Float>) -> SIMD16<Float> {
        unsafeBitCast(unsafeBitCast(v, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: SIMD16<Float>.self)
    }

    /// 3x64 micro-kernel over all K blocks.
    @inline(never)
    static func kernel(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, blocks: Int, _ tile: Tile) {
        var f00 = F16(), f01 = F16(), f02 = F16(), f03 = F16()
        var f10 = F16(), f11 = F16(), f12 = F16(), f13 = F16()
        var f20 = F16(), f21 = F16(), f22 = F16(), f23 = F16()
        var pa = a, pb = b
        for _ in 0..<blocks {
            let s0 = sd_load(pb + 2304), s1 = sd_load(pb + 2368), s2 = sd_load(pb + 2432), s3 = sd_load(pb + 2496)
            var i00 = s0, i01 = s1, i02 = s2, i03 = s3
            var i10 = s0, i11 = s1, i12 = s2, i13 = s3
            var i20 = s0, i21 = s1, i22 = s2, i23 = s3
            for g in 0..<8 {
                let w = pb + g * 256, x = pa + g * 12
                let w0 = sd_load(w), w1 = sd_load(w + 64), w2 = sd_load(w + 128), w3 = sd_load(w + 192)
                i00 = sd_dpbusd_bcast(i00, x, w0); i01 = sd_dpbusd_bcast(i01, x, w1)
                i02 = sd_dpbusd_bcast(i02, x, w2); i03 = sd_dpbusd_bcast(i03, x, w3)
                i10 = sd_dpbusd_bcast(i10, x + 4, w0); i11 = sd_dpbusd_bcast(i11, x + 4, w1)
                i12 = sd_dpbusd_bcast(i12, x + 4, w2); i13 = sd_dpbusd_bcast(i13, x + 4, w3)
                i20 = sd_dpbusd_bcast(i20, x + 8, w0); i21 = sd_dpbusd_bcast(i21, x + 8, w1)
                i22 = sd_dpbusd_bcast(i22, x + 8, w2); i23 = sd_dpbusd_bcast(i23, x + 8, w3)
            }
            let d0 = pb.load(fromByteOffset: 2048, as: F16.self), d1 = pb.load(fromByteOffset: 2112, as: F16.self)
            let d2 = pb.load(fromByteOffset: 2176, as: F16.self), d3 = pb.load(fromByteOffset: 2240, as: F16.self)
            var da = F16(repeating: pa.load(fromByteOffset: 96, as: Float.self))
            f00.addProduct(sd_cvtepi32_ps(i00), da * d0); f01.addProduct(sd_cvtepi32_ps(i01), da * d1)
            f02.addProduct(sd_cvtepi32_ps(i02), da * d2); f03.addProduct(sd_cvtepi32_ps(i03), da * d3)
            da = F16(repeating: pa.load(fromByteOffset: 100, as: Float.self))
            f10.addProduct(sd_cvtepi32_ps(i10), da * d0); f11.addProduct(sd_cvtepi32_ps(i11), da * d1)
            f12.addProduct(sd_cvtepi32_ps(i12), da * d2); f13.addProduct(sd_cvtepi32_ps(i13), da * d3)
            da = F16(repeating: pa.load(fromByteOffset: 104, as: Float.self))
            f20.addProduct(sd_cvtepi32_ps(i20), da * d0); f21.addProduct(sd_cvtepi32_ps(i21), da * d1)
            f22.addProduct(sd_cvtepi32_ps(i22), da * d2); f23.addProduct(sd_cvtepi32_ps(i23), da * d3)
            pa += activationBlockBytes
            pb += weightBlockBytes
        }
        let zero = F16()
        tile.store(
            f00, f01, f02, f03, f10, f11, f12, f13, f20, f21, f22, f23,
            zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, kernelRows: 3)
    }
}
#endif
