#if arch(x86_64)
import CSIMD

// Micro-kernels for B slivers of at most 32 or 16 columns.
//
// The 6x64 kernels spend their FMAs on all 64 columns of a sliver whatever it holds: a
// convolution over a 4x4 image (16 output pixels per image, the SD UNet's lowest level at 256x256)
// ran at a quarter of their speed. These keep 24 accumulators busy on narrower tiles by taking
// more rows of A (2 or 4 consecutive 6-row slivers of the packed block) against the first 2 or 1
// vectors of the same packed B sliver, so neither operand's layout changes.

extension AVX512Gemm {
    /// 12x32 f32: per k, 2 vector loads of B and 12 broadcasts of A (two slivers, `sliverBytes`
    /// apart) feed 24 FMAs.
    @inline(never)
    static func kernelFloat12x32(_ a: UnsafeRawPointer, sliverBytes: Int, _ b: UnsafeRawPointer, steps: Int, _ tile: Tile) {
        var c00 = F16(), c01 = F16(), c10 = F16(), c11 = F16(), c20 = F16(), c21 = F16()
        var c30 = F16(), c31 = F16(), c40 = F16(), c41 = F16(), c50 = F16(), c51 = F16()
        var c60 = F16(), c61 = F16(), c70 = F16(), c71 = F16(), c80 = F16(), c81 = F16()
        var c90 = F16(), c91 = F16(), ca0 = F16(), ca1 = F16(), cb0 = F16(), cb1 = F16()
        var pa = a.assumingMemoryBound(to: Float.self)
        let second = sliverBytes / 4
        var pb = b
        for _ in 0..<steps {
            let b0 = pb.load(as: F16.self), b1 = pb.load(fromByteOffset: 64, as: F16.self)
            var s = F16(repeating: pa[0])
            c00.addProduct(s, b0); c01.addProduct(s, b1)
            s = F16(repeating: pa[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
            s = F16(repeating: pa[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
            s = F16(repeating: pa[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
            s = F16(repeating: pa[4]); c40.addProduct(s, b0); c41.addProduct(s, b1)
            s = F16(repeating: pa[5]); c50.addProduct(s, b0); c51.addProduct(s, b1)
            s = F16(repeating: pa[second]); c60.addProduct(s, b0); c61.addProduct(s, b1)
            s = F16(repeating: pa[second + 1]); c70.addProduct(s, b0); c71.addProduct(s, b1)
            s = F16(repeating: pa[second + 2]); c80.addProduct(s, b0); c81.addProduct(s, b1)
            s = F16(repeating: pa[second + 3]); c90.addProduct(s, b0); c91.addProduct(s, b1)
            s = F16(repeating: pa[second + 4]); ca0.addProduct(s, b0); ca1.addProduct(s, b1)
            s = F16(repeating: pa[second + 5]); cb0.addProduct(s, b0); cb1.addProduct(s, b1)
            pa += 6
            pb += 256
        }
        tile.store12x32(
            c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51,
            c60, c61, c70, c71, c80, c81, c90, c91, ca0, ca1, cb0, cb1)
    }

    /// 24x16 f32: per k, 1 vector load of B and 24 broadcasts of A (four slivers) feed 24 FMAs.
    @inline(never)
    static func kernelFloat24x16(_ a: UnsafeRawPointer, sliverBytes: Int, _ b: UnsafeRawPointer, steps: Int, _ tile: Tile) {
        var c0 = F16(), c1 = F16(), c2 = F16(), c3 = F16(), c4 = F16(), c5 = F16()
        var c6 = F16(), c7 = F16(), c8 = F16(), c9 = F16(), c10 = F16(), c11 = F16()
        var c12 = F16(), c13 = F16(), c14 = F16(), c15 = F16(), c16 = F16(), c17 = F16()
        var c18 = F16(), c19 = F16(), c20 = F16(), c21 = F16(), c22 = F16(), c23 = F16()
        var p0 = a.assumingMemoryBound(to: Float.self)
        let s1 = sliverBytes / 4, s2 = 2 * s1, s3 = 3 * s1
        var pb = b
        for _ in 0..<steps {
            let v = pb.load(as: F16.self)
            c0.addProduct(F16(repeating: p0[0]), v); c1.addProduct(F16(repeating: p0[1]), v)
            c2.addProduct(F16(repeating: p0[2]), v); c3.addProduct(F16(repeating: p0[3]), v)
            c4.addProduct(F16(repeating: p0[4]), v); c5.addProduct(F16(repeating: p0[5]), v)
            c6.addProduct(F16(repeating: p0[s1]), v); c7.addProduct(F16(repeating: p0[s1 + 1]), v)
            c8.addProduct(F16(repeating: p0[s1 + 2]), v); c9.addProduct(F16(repeating: p0[s1 + 3]), v)
            c10.addProduct(F16(repeating: p0[s1 + 4]), v); c11.addProduct(F16(repeating: p0[s1 + 5]), v)
            c12.addProduct(F16(repeating: p0[s2]), v); c13.addProduct(F16(repeating: p0[s2 + 1]), v)
            c14.addProduct(F16(repeating: p0[s2 + 2]), v); c15.addProduct(F16(repeating: p0[s2 + 3]), v)
            c16.addProduct(F16(repeating: p0[s2 + 4]), v); c17.addProduct(F16(repeating: p0[s2 + 5]), v)
            c18.addProduct(F16(repeating: p0[s3]), v); c19.addProduct(F16(repeating: p0[s3 + 1]), v)
            c20.addProduct(F16(repeating: p0[s3 + 2]), v); c21.addProduct(F16(repeating: p0[s3 + 3]), v)
            c22.addProduct(F16(repeating: p0[s3 + 4]), v); c23.addProduct(F16(repeating: p0[s3 + 5]), v)
            p0 += 6
            pb += 256
        }
        tile.store24x16(
            c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11,
            c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23)
    }

    /// 12x32 bf16: per pair of k, 2 vector loads of B and 12 broadcast pairs of A feed 24 `vdpbf16ps`.
    @inline(never)
    static func kernelBFloat12x32(_ a: UnsafeRawPointer, sliverBytes: Int, _ b: UnsafeRawPointer, steps: Int, _ tile: Tile) {
        var c00 = F16(), c01 = F16(), c10 = F16(), c11 = F16(), c20 = F16(), c21 = F16()
        var c30 = F16(), c31 = F16(), c40 = F16(), c41 = F16(), c50 = F16(), c51 = F16()
        var c60 = F16(), c61 = F16(), c70 = F16(), c71 = F16(), c80 = F16(), c81 = F16()
        var c90 = F16(), c91 = F16(), ca0 = F16(), ca1 = F16(), cb0 = F16(), cb1 = F16()
        var pa = a, pb = b
        for _ in 0..<steps {
            let b0 = sd_load(pb), b1 = sd_load(pb + 64)
            let q = pa + sliverBytes
            c00 = sd_dpbf16_bcast(c00, pa, b0); c01 = sd_dpbf16_bcast(c01, pa, b1)
            c10 = sd_dpbf16_bcast(c10, pa + 4, b0); c11 = sd_dpbf16_bcast(c11, pa + 4, b1)
            c20 = sd_dpbf16_bcast(c20, pa + 8, b0); c21 = sd_dpbf16_bcast(c21, pa + 8, b1)
            c30 = sd_dpbf16_bcast(c30, pa + 12, b0); c31 = sd_dpbf16_bcast(c31, pa + 12, b1)
            c40 = sd_dpbf16_bcast(c40, pa + 16, b0); c41 = sd_dpbf16_bcast(c41, pa + 16, b1)
            c50 = sd_dpbf16_bcast(c50, pa + 20, b0); c51 = sd_dpbf16_bcast(c51, pa + 20, b1)
            c60 = sd_dpbf16_bcast(c60, q, b0); c61 = sd_dpbf16_bcast(c61, q, b1)
            c70 = sd_dpbf16_bcast(c70, q + 4, b0); c71 = sd_dpbf16_bcast(c71, q + 4, b1)
            c80 = sd_dpbf16_bcast(c80, q + 8, b0); c81 = sd_dpbf16_bcast(c81, q + 8, b1)
            c90 = sd_dpbf16_bcast(c90, q + 12, b0); c91 = sd_dpbf16_bcast(c91, q + 12, b1)
            ca0 = sd_dpbf16_bcast(ca0, q + 16, b0); ca1 = sd_dpbf16_bcast(ca1, q + 16, b1)
            cb0 = sd_dpbf16_bcast(cb0, q + 20, b0); cb1 = sd_dpbf16_bcast(cb1, q + 20, b1)
            pa += 24
            pb += 256
        }
        tile.store12x32(
            c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51,
            c60, c61, c70, c71, c80, c81, c90, c91, ca0, ca1, cb0, cb1)
    }

    /// 24x16 bf16: per pair of k, 1 vector load of B and 24 broadcast pairs of A feed 24 `vdpbf16ps`.
    @inline(never)
    static func kernelBFloat24x16(_ a: UnsafeRawPointer, sliverBytes: Int, _ b: UnsafeRawPointer, steps: Int, _ tile: Tile) {
        var c0 = F16(), c1 = F16(), c2 = F16(), c3 = F16(), c4 = F16(), c5 = F16()
        var c6 = F16(), c7 = F16(), c8 = F16(), c9 = F16(), c10 = F16(), c11 = F16()
        var c12 = F16(), c13 = F16(), c14 = F16(), c15 = F16(), c16 = F16(), c17 = F16()
        var c18 = F16(), c19 = F16(), c20 = F16(), c21 = F16(), c22 = F16(), c23 = F16()
        var pa = a, pb = b
        for _ in 0..<steps {
            let v = sd_load(pb)
            let q1 = pa + sliverBytes, q2 = pa + 2 * sliverBytes, q3 = pa + 3 * sliverBytes
            c0 = sd_dpbf16_bcast(c0, pa, v); c1 = sd_dpbf16_bcast(c1, pa + 4, v)
            c2 = sd_dpbf16_bcast(c2, pa + 8, v); c3 = sd_dpbf16_bcast(c3, pa + 12, v)
            c4 = sd_dpbf16_bcast(c4, pa + 16, v); c5 = sd_dpbf16_bcast(c5, pa + 20, v)
            c6 = sd_dpbf16_bcast(c6, q1, v); c7 = sd_dpbf16_bcast(c7, q1 + 4, v)
            c8 = sd_dpbf16_bcast(c8, q1 + 8, v); c9 = sd_dpbf16_bcast(c9, q1 + 12, v)
            c10 = sd_dpbf16_bcast(c10, q1 + 16, v); c11 = sd_dpbf16_bcast(c11, q1 + 20, v)
            c12 = sd_dpbf16_bcast(c12, q2, v); c13 = sd_dpbf16_bcast(c13, q2 + 4, v)
            c14 = sd_dpbf16_bcast(c14, q2 + 8, v); c15 = sd_dpbf16_bcast(c15, q2 + 12, v)
            c16 = sd_dpbf16_bcast(c16, q2 + 16, v); c17 = sd_dpbf16_bcast(c17, q2 + 20, v)
            c18 = sd_dpbf16_bcast(c18, q3, v); c19 = sd_dpbf16_bcast(c19, q3 + 4, v)
            c20 = sd_dpbf16_bcast(c20, q3 + 8, v); c21 = sd_dpbf16_bcast(c21, q3 + 12, v)
            c22 = sd_dpbf16_bcast(c22, q3 + 16, v); c23 = sd_dpbf16_bcast(c23, q3 + 20, v)
            pa += 24
            pb += 256
        }
        tile.store24x16(
            c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11,
            c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23)
    }
}

extension Tile {
    /// Writes alpha · a 12x32 tile (row r: v[2r], v[2r+1]) to C, adding when `accumulate`.
    @inline(__always)
    func store12x32(
        _ c00: F16, _ c01: F16, _ c10: F16, _ c11: F16, _ c20: F16, _ c21: F16, _ c30: F16, _ c31: F16,
        _ c40: F16, _ c41: F16, _ c50: F16, _ c51: F16, _ c60: F16, _ c61: F16, _ c70: F16, _ c71: F16,
        _ c80: F16, _ c81: F16, _ c90: F16, _ c91: F16, _ ca0: F16, _ ca1: F16, _ cb0: F16, _ cb1: F16
    ) {
        let full = rows == 12 && cols == 32
        // Full tiles go straight to C; edge tiles go through the scratch (12x32 fits its 6x64).
        let (dst, stride) = full ? (c, ldc) : (edge, 32)
        let add = full && accumulate
        vector(dst, stride, 0, 0, c00, add); vector(dst, stride, 0, 1, c01, add)
        vector(dst, stride, 1, 0, c10, add); vector(dst, stride, 1, 1, c11, add)
        vector(dst, stride, 2, 0, c20, add); vector(dst, stride, 2, 1, c21, add)
        vector(dst, stride, 3, 0, c30, add); vector(dst, stride, 3, 1, c31, add)
        vector(dst, stride, 4, 0, c40, add); vector(dst, stride, 4, 1, c41, add)
        vector(dst, stride, 5, 0, c50, add); vector(dst, stride, 5, 1, c51, add)
        vector(dst, stride, 6, 0, c60, add); vector(dst, stride, 6, 1, c61, add)
        vector(dst, stride, 7, 0, c70, add); vector(dst, stride, 7, 1, c71, add)
        vector(dst, stride, 8, 0, c80, add); vector(dst, stride, 8, 1, c81, add)
        vector(dst, stride, 9, 0, c90, add); vector(dst, stride, 9, 1, c91, add)
        vector(dst, stride, 10, 0, ca0, add); vector(dst, stride, 10, 1, ca1, add)
        vector(dst, stride, 11, 0, cb0, add); vector(dst, stride, 11, 1, cb1, add)
        if !full { flushEdge(width: 32) }
    }

    /// Writes alpha · a 24x16 tile (row r: v[r]) to C, adding when `accumulate`.
    @inline(__always)
    func store24x16(
        _ c0: F16, _ c1: F16, _ c2: F16, _ c3: F16, _ c4: F16, _ c5: F16, _ c6: F16, _ c7: F16,
        _ c8: F16, _ c9: F16, _ c10: F16, _ c11: F16, _ c12: F16, _ c13: F16, _ c14: F16, _ c15: F16,
        _ c16: F16, _ c17: F16, _ c18: F16, _ c19: F16, _ c20: F16, _ c21: F16, _ c22: F16, _ c23: F16
    ) {
        let full = rows == 24 && cols == 16
        let (dst, stride) = full ? (c, ldc) : (edge, 16)
        let add = full && accumulate
        vector(dst, stride, 0, 0, c0, add); vector(dst, stride, 1, 0, c1, add)
        vector(dst, stride, 2, 0, c2, add); vector(dst, stride, 3, 0, c3, add)
        vector(dst, stride, 4, 0, c4, add); vector(dst, stride, 5, 0, c5, add)
        vector(dst, stride, 6, 0, c6, add); vector(dst, stride, 7, 0, c7, add)
        vector(dst, stride, 8, 0, c8, add); vector(dst, stride, 9, 0, c9, add)
        vector(dst, stride, 10, 0, c10, add); vector(dst, stride, 11, 0, c11, add)
        vector(dst, stride, 12, 0, c12, add); vector(dst, stride, 13, 0, c13, add)
        vector(dst, stride, 14, 0, c14, add); vector(dst, stride, 15, 0, c15, add)
        vector(dst, stride, 16, 0, c16, add); vector(dst, stride, 17, 0, c17, add)
        vector(dst, stride, 18, 0, c18, add); vector(dst, stride, 19, 0, c19, add)
        vector(dst, stride, 20, 0, c20, add); vector(dst, stride, 21, 0, c21, add)
        vector(dst, stride, 22, 0, c22, add); vector(dst, stride, 23, 0, c23, add)
        if !full { flushEdge(width: 16) }
    }

    /// Stores alpha · v as vector `column` (of 16 floats) of row `r`, adding to what is there when `add`.
    @inline(__always)
    private func vector(_ dst: UnsafeMutablePointer<Float>, _ stride: Int, _ r: Int, _ column: Int, _ v: F16, _ add: Bool) {
        let p = UnsafeMutableRawPointer(dst + r * stride + 16 * column)
        let scaled = F16(repeating: alpha) * v
        p.storeBytes(of: add ? p.loadUnaligned(as: F16.self) + scaled : scaled, as: F16.self)
    }

    /// Copies (or adds, when `accumulate`) the tile's `rows` x `cols` from the edge scratch, whose
    /// rows are `width` floats apart, into C.
    @inline(__always)
    private func flushEdge(width: Int) {
        for r in 0..<rows {
            let src = edge + r * width, out = c + r * ldc
            if accumulate {
                for j in 0..<cols { out[j] += src[j] }
            } else {
                out.update(from: src, count: cols)
            }
        }
    }
}
#endif
