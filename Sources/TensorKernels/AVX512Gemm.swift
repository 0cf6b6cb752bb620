#if arch(x86_64)
import CSIMD

/// Single-threaded packed GEMM for AVX-512, in f32 (FMA) or bf16 (`vdpbf16ps`, f32 accumulation).
///
/// C[m, n] = alpha · op(A) · op(B) + beta · C, row-major, with the Goto/BLIS loop nest:
/// for each column panel of B (`nc`) and K block (`kc`) B is packed once; for each row block of
/// A (`mc`) A is packed once; then 6x64 micro-tiles of C are computed from a 6-row sliver of the
/// A block (L2) and a 64-column sliver of the B panel (L1, 32 KB in either precision). A B sliver
/// of at most 32 or 16 columns (a narrow product, or the last sliver) is multiplied by 2 or 4 A
/// slivers at once instead, in 12x32 and 24x16 micro-tiles (see `AVX512Gemm+NarrowKernels`).
///
/// Packed layouts (zero-padded to whole slivers):
/// - f32: A sliver [kc][6], B sliver [kc][64];
/// - bf16: A sliver [kc/2][6] pairs, B sliver [kc/2][64] pairs, a pair being the bf16 values of
///   k = 2t and 2t + 1 in one 32-bit word (low half first), the operand order of `vdpbf16ps`.
///
/// Every function here requires AVX-512 F/BW/VL/BF16; callers check the CPU first.
package enum AVX512Gemm {
    /// The arithmetic of the inner product.
    package enum Precision: Sendable {
        /// f32 operands, f32 FMA.
        case float32
        /// Operands rounded to bf16 (nearest even) while packing, products summed in f32.
        case bfloat16
    }

    static let mr = 6
    static let nr = 64
    /// Rows of A packed per block (a multiple of `mr`): 144 x 256 bf16 or 144 x 128 f32 = 72 KB in L2.
    static let mc = 144
    /// Columns of B packed per panel: a whole SD-size conv image (64x64 latent pixels) or a
    /// layer's outputs fit one panel, so a per-call A is packed at most once.
    static let nc = 4096

    /// f32 rows of convolution patches gathered before conversion to bf16 pairs (8 KB; even).
    static let stagingRows = 32

    static func kc(_ precision: Precision) -> Int { precision == .float32 ? 128 : 256 }

    /// Bytes of one packed sliver per row or column of `kb` elements of K.
    @inline(__always)
    static func kBytes(_ precision: Precision, _ kb: Int) -> Int { precision == .float32 ? kb * 4 : roundUp(kb, 2) * 2 }

    /// Bytes of scratch `multiply` needs for these sizes (64-byte aligned pointer expected).
    package static func scratchBytes(precision: Precision, m: Int, n: Int, k: Int) -> Int {
        let kb = kBytes(precision, min(k, kc(precision)))
        let aBytes = roundUp(min(m, mc), mr) * kb
        let bBytes = roundUp(min(n, nc), nr) * kb
        // + the 6x64 edge tile + the f32 staging block for convolution patches in bf16.
        return roundUp(aBytes, 64) + roundUp(bBytes, 64) + mr * nr * 4 + stagingRows * nr * 4
    }

    /// C = alpha · op(A) · op(B) + beta · C on the calling thread; op(A) is [m, k], op(B) [k, n].
    /// `scratch` holds at least `scratchBytes(...)` bytes, 64-byte aligned.
    package static func multiply(
        precision: Precision, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, transA: Bool,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
        scratch: UnsafeMutableRawPointer
    ) {
        multiply(
            precision: precision, m: m, n: n, k: k, alpha: alpha,
            a: .strided(Operand(base: a, stride: lda, transposed: transA)),
            b: .strided(Operand(base: b, stride: ldb, transposed: transB)),
            beta: beta, c: c, ldc: ldc, scratch: scratch)
    }

    /// C = alpha · op(A) · op(B) + beta · C, with either operand possibly prepacked (see
    /// `PackedOperand`) and B possibly the patches of a convolution (implicit im2col).
    package static func multiply(
        precision: Precision, m: Int, n: Int, k: Int, alpha: Float, a: LeftOperand, b: RightOperand,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, scratch: UnsafeMutableRawPointer
    ) {
        guard m > 0, n > 0 else { return }
        let accumulateC = beta != 0
        if beta != 0 && beta != 1 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
        }
        if k == 0 {
            if !accumulateC { for i in 0..<m { (c + i * ldc).initialize(repeating: 0, count: n) } }
            return
        }
        let kcMax = kc(precision)
        let kbMax = kBytes(precision, min(k, kcMax))
        let aBlock = scratch
        let bPanel = scratch + roundUp(roundUp(min(m, mc), mr) * kbMax, 64)
        let edge = (bPanel + roundUp(roundUp(min(n, nc), nr) * kbMax, 64)).assumingMemoryBound(to: Float.self)
        let staging = edge + mr * nr

        for j0 in stride(from: 0, to: n, by: nc) {
            let nb = min(nc, n - j0)
            for p0 in stride(from: 0, to: k, by: kcMax) {
                let kb = min(kcMax, k - p0)
                let accumulate = accumulateC || p0 > 0
                let bytes = kBytes(precision, kb)
                // The B panel: packed now, or a view of the prepacked operand.
                var bBase = UnsafeRawPointer(bPanel)
                switch b {
                case .packed(let packed):
                    bBase = packed.sliver(j0 / nr, kBlock: p0)
                case .strided(let operand):
                    for jr in stride(from: 0, to: nb, by: nr) {
                        packSliver(
                            operand, precision: precision, asA: false, start: j0 + jr, extent: min(nr, nb - jr), k: p0, kb,
                            into: bPanel + (jr / nr) * bytes * nr)
                    }
                case .patches(let patches):
                    for jr in stride(from: 0, to: nb, by: nr) {
                        let dst = bPanel + (jr / nr) * bytes * nr
                        let cols = min(nr, nb - jr)
                        switch precision {
                        case .float32:
                            patches.gather(k: p0, kb, column: j0 + jr, cols, into: dst.assumingMemoryBound(to: Float.self))
                        case .bfloat16:
                            // Through an L1-sized staging block of `stagingRows` f32 rows at a time.
                            for s0 in stride(from: 0, to: kb, by: stagingRows) {
                                let rows = min(stagingRows, kb - s0)
                                patches.gather(k: p0 + s0, rows, column: j0 + jr, cols, into: staging)
                                let staged = Operand(base: UnsafePointer(staging), stride: nr, transposed: false)
                                packBBFloat(staged, k: 0, rows, column: 0, nr, into: dst + (s0 / 2) * nr * 4)
                            }
                        }
                    }
                }
                for i0 in stride(from: 0, to: m, by: mc) {
                    let mb = min(mc, m - i0)
                    var aBase = UnsafeRawPointer(aBlock)
                    switch a {
                    case .packed(let packed):
                        aBase = packed.sliver(i0 / mr, kBlock: p0)
                    case .strided(let operand):
                        for ir in stride(from: 0, to: mb, by: mr) {
                            packSliver(
                                operand, precision: precision, asA: true, start: i0 + ir, extent: min(mr, mb - ir), k: p0, kb,
                                into: aBlock + (ir / mr) * bytes * mr)
                        }
                    }
                    let sliverBytes = bytes * mr
                    for jr in stride(from: 0, to: nb, by: nr) {
                        let cols = min(nr, nb - jr)
                        let bSliver = bBase + (jr / nr) * bytes * nr
                        // A sliver of B with at most 32 (16) columns takes 2 (4) A slivers per
                        // micro-tile, as many as remain at the block's end.
                        let widest = cols <= 16 ? 4 : cols <= 32 ? 2 : 1
                        let blockSlivers = (mb + mr - 1) / mr
                        var s = 0
                        while s < blockSlivers {
                            var group = widest
                            while group > blockSlivers - s { group /= 2 }
                            let ir = s * mr
                            let tile = Tile(
                                c: c + (i0 + ir) * ldc + j0 + jr, ldc: ldc, rows: min(mr * group, mb - ir), cols: cols,
                                accumulate: accumulate, alpha: alpha, edge: edge)
                            let aSliver = aBase + s * sliverBytes
                            switch (precision, group) {
                            case (.float32, 1): kernelFloat(aSliver, bSliver, steps: kb, tile)
                            case (.float32, 2): kernelFloat12x32(aSliver, sliverBytes: sliverBytes, bSliver, steps: kb, tile)
                            case (.float32, _): kernelFloat24x16(aSliver, sliverBytes: sliverBytes, bSliver, steps: kb, tile)
                            case (.bfloat16, 1): kernelBFloat(aSliver, bSliver, steps: roundUp(kb, 2) / 2, tile)
                            case (.bfloat16, 2):
                                kernelBFloat12x32(aSliver, sliverBytes: sliverBytes, bSliver, steps: roundUp(kb, 2) / 2, tile)
                            case (.bfloat16, _):
                                kernelBFloat24x16(aSliver, sliverBytes: sliverBytes, bSliver, steps: roundUp(kb, 2) / 2, tile)
                            }
                            s += group
                        }
                    }
                }
            }
        }
    }

    @inline(__always) static func roundUp(_ x: Int, _ to: Int) -> Int { (x + to - 1) / to * to }
}

/// The left operand of `AVX512Gemm.multiply`.
package enum LeftOperand {
    /// op(A) read from a strided f32 matrix and packed per block.
    case strided(Operand)
    /// Already packed (a weight packed once); its sliver 0 is row 0 of this product.
    case packed(PackedOperand)
}

/// The right operand of `AVX512Gemm.multiply`.
package enum RightOperand {
    /// op(B) read from a strided f32 matrix and packed per block.
    case strided(Operand)
    /// Already packed; its sliver 0 is column 0 of this product.
    case packed(PackedOperand)
    /// The im2col matrix of a convolution, gathered from the image while packing.
    case patches(ConvolutionPatches)
}

/// A strided matrix operand: element (i, j) of op(M) is base[i·stride + j], or base[j·stride + i]
/// when transposed.
package struct Operand {
    let base: UnsafePointer<Float>
    let stride: Int
    let transposed: Bool

    package init(base: UnsafePointer<Float>, stride: Int, transposed: Bool) {
        (self.base, self.stride, self.transposed) = (base, stride, transposed)
    }
}

/// Where a micro-tile's result goes.
struct Tile {
    let c: UnsafeMutablePointer<Float>
    let ldc: Int
    let rows: Int
    let cols: Int
    let accumulate: Bool
    let alpha: Float
    /// A 6x64 scratch (also a 12x32 or 24x16 one) for tiles cut by the matrix edge.
    let edge: UnsafeMutablePointer<Float>
}

typealias F16 = SIMD16<Float>

// MARK: - Micro-kernels

extension AVX512Gemm {
    /// 6x64 f32 micro-kernel: per k, 4 vector loads of B and 6 broadcasts of A feed 24 FMAs.
    @inline(never)
    static func kernelFloat(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, steps: Int, _ tile: Tile) {
        var c00 = F16(), c01 = F16(), c02 = F16(), c03 = F16()
        var c10 = F16(), c11 = F16(), c12 = F16(), c13 = F16()
        var c20 = F16(), c21 = F16(), c22 = F16(), c23 = F16()
        var c30 = F16(), c31 = F16(), c32 = F16(), c33 = F16()
        var c40 = F16(), c41 = F16(), c42 = F16(), c43 = F16()
        var c50 = F16(), c51 = F16(), c52 = F16(), c53 = F16()
        var pa = a.assumingMemoryBound(to: Float.self), pb = b
        for _ in 0..<steps {
            let b0 = pb.load(as: F16.self), b1 = pb.load(fromByteOffset: 64, as: F16.self)
            let b2 = pb.load(fromByteOffset: 128, as: F16.self), b3 = pb.load(fromByteOffset: 192, as: F16.self)
            var s = F16(repeating: pa[0])
            c00.addProduct(s, b0); c01.addProduct(s, b1); c02.addProduct(s, b2); c03.addProduct(s, b3)
            s = F16(repeating: pa[1])
            c10.addProduct(s, b0); c11.addProduct(s, b1); c12.addProduct(s, b2); c13.addProduct(s, b3)
            s = F16(repeating: pa[2])
            c20.addProduct(s, b0); c21.addProduct(s, b1); c22.addProduct(s, b2); c23.addProduct(s, b3)
            s = F16(repeating: pa[3])
            c30.addProduct(s, b0); c31.addProduct(s, b1); c32.addProduct(s, b2); c33.addProduct(s, b3)
            s = F16(repeating: pa[4])
            c40.addProduct(s, b0); c41.addProduct(s, b1); c42.addProduct(s, b2); c43.addProduct(s, b3)
            s = F16(repeating: pa[5])
            c50.addProduct(s, b0); c51.addProduct(s, b1); c52.addProduct(s, b2); c53.addProduct(s, b3)
            pa += 6
            pb += 256
        }
        tile.store(
            c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23,
            c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53)
    }

    /// 6x64 bf16 micro-kernel: per pair of k, 4 vector loads of B and 6 broadcast pairs of A feed
    /// 24 `vdpbf16ps`, twice the multiply-adds of the f32 kernel per instruction.
    @inline(never)
    static func kernelBFloat(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, steps: Int, _ tile: Tile) {
        var c00 = F16(), c01 = F16(), c02 = F16(), c03 = F16()
        var c10 = F16(), c11 = F16(), c12 = F16(), c13 = F16()
        var c20 = F16(), c21 = F16(), c22 = F16(), c23 = F16()
        var c30 = F16(), c31 = F16(), c32 = F16(), c33 = F16()
        var c40 = F16(), c41 = F16(), c42 = F16(), c43 = F16()
        var c50 = F16(), c51 = F16(), c52 = F16(), c53 = F16()
        var pa = a, pb = b
        for _ in 0..<steps {
            let b0 = sd_load(pb), b1 = sd_load(pb + 64), b2 = sd_load(pb + 128), b3 = sd_load(pb + 192)
            c00 = sd_dpbf16_bcast(c00, pa, b0); c01 = sd_dpbf16_bcast(c01, pa, b1)
            c02 = sd_dpbf16_bcast(c02, pa, b2); c03 = sd_dpbf16_bcast(c03, pa, b3)
            c10 = sd_dpbf16_bcast(c10, pa + 4, b0); c11 = sd_dpbf16_bcast(c11, pa + 4, b1)
            c12 = sd_dpbf16_bcast(c12, pa + 4, b2); c13 = sd_dpbf16_bcast(c13, pa + 4, b3)
            c20 = sd_dpbf16_bcast(c20, pa + 8, b0); c21 = sd_dpbf16_bcast(c21, pa + 8, b1)
            c22 = sd_dpbf16_bcast(c22, pa + 8, b2); c23 = sd_dpbf16_bcast(c23, pa + 8, b3)
            c30 = sd_dpbf16_bcast(c30, pa + 12, b0); c31 = sd_dpbf16_bcast(c31, pa + 12, b1)
            c32 = sd_dpbf16_bcast(c32, pa + 12, b2); c33 = sd_dpbf16_bcast(c33, pa + 12, b3)
            c40 = sd_dpbf16_bcast(c40, pa + 16, b0); c41 = sd_dpbf16_bcast(c41, pa + 16, b1)
            c42 = sd_dpbf16_bcast(c42, pa + 16, b2); c43 = sd_dpbf16_bcast(c43, pa + 16, b3)
            c50 = sd_dpbf16_bcast(c50, pa + 20, b0); c51 = sd_dpbf16_bcast(c51, pa + 20, b1)
            c52 = sd_dpbf16_bcast(c52, pa + 20, b2); c53 = sd_dpbf16_bcast(c53, pa + 20, b3)
            pa += 24
            pb += 256
        }
        tile.store(
            c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23,
            c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53)
    }
}

@inline(__always) func sd_load(_ p: UnsafeRawPointer) -> SIMD8<Int64> { p.load(as: SIMD8<Int64>.self) }

extension Tile {
    /// Writes alpha · (the accumulators of the first `kernelRows` rows, 6 or 3) to C, adding to it
    /// when `accumulate`.
    @inline(__always)
    func store(
        _ c00: F16, _ c01: F16, _ c02: F16, _ c03: F16, _ c10: F16, _ c11: F16, _ c12: F16, _ c13: F16,
        _ c20: F16, _ c21: F16, _ c22: F16, _ c23: F16, _ c30: F16, _ c31: F16, _ c32: F16, _ c33: F16,
        _ c40: F16, _ c41: F16, _ c42: F16, _ c43: F16, _ c50: F16, _ c51: F16, _ c52: F16, _ c53: F16,
        kernelRows: Int = 6
    ) {
        let full = rows == kernelRows && cols == 64
        // Full tiles go straight to C; edge tiles go through the 6x64 scratch.
        let (dst, stride) = full ? (c, ldc) : (edge, 64)
        let add = full && accumulate
        row(dst, stride, 0, c00, c01, c02, c03, add)
        row(dst, stride, 1, c10, c11, c12, c13, add)
        row(dst, stride, 2, c20, c21, c22, c23, add)
        if kernelRows == 6 {
            row(dst, stride, 3, c30, c31, c32, c33, add)
            row(dst, stride, 4, c40, c41, c42, c43, add)
            row(dst, stride, 5, c50, c51, c52, c53, add)
        }
        if full { return }
        for r in 0..<rows {
            let src = edge + r * 64, out = c + r * ldc
            if accumulate {
                for j in 0..<cols { out[j] += src[j] }
            } else {
                out.update(from: src, count: cols)
            }
        }
    }

    @inline(__always)
    private func row(
        _ dst: UnsafeMutablePointer<Float>, _ stride: Int, _ r: Int, _ v0: F16, _ v1: F16, _ v2: F16, _ v3: F16,
        _ add: Bool
    ) {
        let p = UnsafeMutableRawPointer(dst + r * stride)
        let scale = F16(repeating: alpha)
        if add {
            p.storeBytes(of: p.loadUnaligned(as: F16.self) + scale * v0, as: F16.self)
            p.storeBytes(of: p.loadUnaligned(fromByteOffset: 64, as: F16.self) + scale * v1, toByteOffset: 64, as: F16.self)
            p.storeBytes(of: p.loadUnaligned(fromByteOffset: 128, as: F16.self) + scale * v2, toByteOffset: 128, as: F16.self)
            p.storeBytes(of: p.loadUnaligned(fromByteOffset: 192, as: F16.self) + scale * v3, toByteOffset: 192, as: F16.self)
        } else {
            p.storeBytes(of: scale * v0, as: F16.self)
            p.storeBytes(of: scale * v1, toByteOffset: 64, as: F16.self)
            p.storeBytes(of: scale * v2, toByteOffset: 128, as: F16.self)
            p.storeBytes(of: scale * v3, toByteOffset: 192, as: F16.self)
        }
    }
}
#endif
