#if arch(x86_64)
/// Single-threaded f32 GEMM for AVX2 and FMA with the weight packed once, for the `avx2` level's
/// weight products that OpenBLAS handles worst: few activation columns (the UNet's 4x4 and 8x8
/// levels), where sgemm re-packs the whole weight on every call and the step is bound by
/// reading it (Zen 2, 2 threads, W 1280x11520 times 32 columns: OpenBLAS 101 GFLOP/s, this 141).
///
/// C = W · B (+ C), W [m, k] packed by `packWeight`, B [k, n] and C [m, n] strided row-major (a
/// convolution's weight times its im2col columns). The Goto/BLIS loop nest: per panel of `nc` columns and K block of `kc`, B is
/// packed into 16-column slivers (L2); per block of `mc` rows, the packed weight's 6-row slivers
/// are read from memory once and meet every B sliver in 6x16 micro-tiles (12 ymm accumulators).
///
/// Packed weight layout (`packWeight`): K blocks of `kc` in order; in each, the weight's 6-row
/// slivers side by side, a sliver [kb][6] (k-major, the 6 rows of one k adjacent), rows past m
/// zero. A sliver of block p0 starts at `roundUp(m, 6) · p0 + sliver · 6 · kb` floats.
///
/// Every function here requires AVX2 and FMA; callers check the CPU first.
package enum AVX2Gemm {
    package static let mr = 6
    package static let nr = 16
    /// K per block: a 6x256 weight sliver (6 KB) and a 16x256 B sliver (16 KB) share L1.
    package static let kc = 256
    /// Rows of the packed weight per block (12 slivers, 72 KB): read once per B panel, from L2.
    static let mc = 72
    /// Columns of B per panel (256 KB packed, L2).
    static let nc = 256

    typealias F8 = SIMD8<Float>

    @inline(__always) static func roundUp(_ x: Int, _ to: Int) -> Int { (x + to - 1) / to * to }

    /// Floats of the packed form of a weight with `m` rows of `k`.
    package static func packedFloats(m: Int, k: Int) -> Int { roundUp(m, mr) * k }

    /// Floats of scratch `multiply` needs.
    package static let scratchFloats = nc * kc + mr * nr

    /// Packs weight rows `firstRow..<firstRow+count` (row-major, `k` per row, at `rows`) into the
    /// packed weight of `m` rows at `destination`. `firstRow` must start a sliver (a multiple of
    /// 6); `count` must end one unless it reaches `m`.
    package static func packWeight(
        rows: UnsafePointer<Float>, firstRow: Int, count: Int, m: Int, k: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        precondition(firstRow % mr == 0 && (count % mr == 0 || firstRow + count == m), "packWeight: rows not sliver-aligned")
        let paddedRows = roundUp(m, mr)
        for p0 in stride(from: 0, to: k, by: kc) {
            let kb = min(kc, k - p0)
            for s0 in stride(from: 0, to: count, by: mr) {
                let out = destination + paddedRows * p0 + (firstRow + s0) / mr * mr * kb
                for r in 0..<mr {
                    if s0 + r < count {
                        let src = rows + (s0 + r) * k + p0
                        for p in 0..<kb { out[p * mr + r] = src[p] }
                    } else {
                        for p in 0..<kb { out[p * mr + r] = 0 }
                    }
                }
            }
        }
    }

    /// C[rows, n] = W[firstRow..<firstRow+rows] · B (+ C when `accumulate`); `firstRow` is a
    /// multiple of 6; B[p, j] is b[p·ldb + j], C[i, j] is c[i·ldc + j]. `scratch` holds
    /// `scratchFloats`.
    package static func multiply(
        packedWeight: UnsafePointer<Float>, m: Int, k: Int, firstRow: Int, rows: Int,
        b: UnsafePointer<Float>, ldb: Int, n: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        scratch: UnsafeMutablePointer<Float>
    ) {
        precondition(firstRow % mr == 0, "AVX2Gemm: row range not sliver-aligned")
        guard rows > 0, n > 0 else { return }
        if k == 0 {
            if !accumulate {
                for i in 0..<rows { (c + i * ldc).initialize(repeating: 0, count: n) }
            }
            return
        }
        let paddedRows = roundUp(m, mr)
        let panel = scratch, edge = scratch + nc * kc
        for j0 in stride(from: 0, to: n, by: nc) {
            let nb = min(nc, n - j0)
            for p0 in stride(from: 0, to: k, by: kc) {
                let kb = min(kc, k - p0)
                packPanel(b, ldb: ldb, k: p0, kb, columns: j0, nb, into: panel)
                let block = packedWeight + paddedRows * p0
                let target = Target(c: c, ldc: ldc, accumulate: accumulate || p0 > 0, edge: edge)
                for i0 in stride(from: 0, to: rows, by: mc) {
                    let ib = min(mc, rows - i0)
                    for jr in stride(from: 0, to: nb, by: nr) {
                        let sliverB = panel + jr * kb
                        for ir in stride(from: 0, to: ib, by: mr) {
                            let sliverA = block + (firstRow + i0 + ir) / mr * mr * kb
                            kernel(
                                sliverA, sliverB, steps: kb, target, row: i0 + ir, column: j0 + jr,
                                rows: min(mr, ib - ir), columns: min(nr, nb - jr))
                        }
                    }
                }
            }
        }
    }

    /// B[k..<k+kb, column..<column+cols] into 16-column slivers [kb][16], zero-padded.
    private static func packPanel(
        _ b: UnsafePointer<Float>, ldb: Int, k: Int, _ kb: Int, columns column: Int, _ cols: Int,
        into panel: UnsafeMutablePointer<Float>
    ) {
        for jr in stride(from: 0, to: cols, by: nr) {
            let width = min(nr, cols - jr)
            let out = panel + jr * kb
            if width == nr {
                for p in 0..<kb {
                    let src = UnsafeRawPointer(b + (k + p) * ldb + column + jr)
                    let dst = UnsafeMutableRawPointer(out + p * nr)
                    dst.storeBytes(of: src.loadUnaligned(as: F8.self), as: F8.self)
                    dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 32, as: F8.self), toByteOffset: 32, as: F8.self)
                }
            } else {
                for p in 0..<kb {
                    let src = b + (k + p) * ldb + column + jr, dst = out + p * nr
                    dst.initialize(from: src, count: width)
                    (dst + width).initialize(repeating: 0, count: nr - width)
                }
            }
        }
    }

    /// Where micro-tiles go.
    struct Target {
        let c: UnsafeMutablePointer<Float>
        let ldc: Int
        let accumulate: Bool
        /// A 6x16 scratch for tiles cut by the matrix edge.
        let edge: UnsafeMutablePointer<Float>
    }

    /// 6x16 micro-kernel: per k, 2 vector loads of B and 6 broadcasts of the weight feed 12 FMAs.
    @inline(never)
    static func kernel(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, steps: Int, _ target: Target, row: Int, column: Int,
        rows: Int, columns: Int
    ) {
        var c00 = F8(), c01 = F8(), c10 = F8(), c11 = F8(), c20 = F8(), c21 = F8()
        var c30 = F8(), c31 = F8(), c40 = F8(), c41 = F8(), c50 = F8(), c51 = F8()
        var pa = a, pb = UnsafeRawPointer(b)
        for _ in 0..<steps {
            let b0 = pb.load(as: F8.self), b1 = pb.load(fromByteOffset: 32, as: F8.self)
            var s = F8(repeating: pa[0])
            c00.addProduct(s, b0); c01.addProduct(s, b1)
            s = F8(repeating: pa[1])
            c10.addProduct(s, b0); c11.addProduct(s, b1)
            s = F8(repeating: pa[2])
            c20.addProduct(s, b0); c21.addProduct(s, b1)
            s = F8(repeating: pa[3])
            c30.addProduct(s, b0); c31.addProduct(s, b1)
            s = F8(repeating: pa[4])
            c40.addProduct(s, b0); c41.addProduct(s, b1)
            s = F8(repeating: pa[5])
            c50.addProduct(s, b0); c51.addProduct(s, b1)
            pa += mr
            pb += 4 * nr
        }
        // Whole tiles go straight to C; edge tiles through the 6x16 scratch.
        let direct = rows == mr && columns == nr
        let (dst, stride) = direct ? (target.c + row * target.ldc + column, target.ldc) : (target.edge, nr)
        let add = direct && target.accumulate
        @inline(__always) func store(_ r: Int, _ v0: F8, _ v1: F8) {
            let p = UnsafeMutableRawPointer(dst + r * stride)
            if add {
                p.storeBytes(of: p.loadUnaligned(as: F8.self) + v0, as: F8.self)
                p.storeBytes(of: p.loadUnaligned(fromByteOffset: 32, as: F8.self) + v1, toByteOffset: 32, as: F8.self)
            } else {
                p.storeBytes(of: v0, as: F8.self)
                p.storeBytes(of: v1, toByteOffset: 32, as: F8.self)
            }
        }
        store(0, c00, c01); store(1, c10, c11); store(2, c20, c21)
        store(3, c30, c31); store(4, c40, c41); store(5, c50, c51)
        if direct { return }
        for r in 0..<rows {
            let src = target.edge + r * nr, out = target.c + (row + r) * target.ldc + column
            for j in 0..<columns { out[j] = target.accumulate ? out[j] + src[j] : src[j] }
        }
    }
}
#endif
