#if arch(x86_64)
/// Single-threaded f32 GEMM for AVX2 and FMA with the weight packed once, for the `avx2` level's
/// weight products that OpenBLAS handles worst: few activations (the UNet's 4x4 and 8x8 levels),
/// where sgemm re-packs the whole weight on every call and the step is bound by reading it
/// (Zen 2, 2 threads, W 1280x11520 times 32 columns: OpenBLAS 101 GFLOP/s, this 141).
///
/// Two products, one 6x16 micro-kernel (12 ymm accumulators; A slivers [kb][6], B slivers
/// [kb][16]), the Goto/BLIS loop nest around it:
/// - `multiply`, a convolution's C = W · B (+ C): W [m, k] packed by `packWeight` into 6-row
///   slivers, B [k, n] (im2col columns) packed per call into 16-column slivers, a panel of `nc`
///   columns per K block of `kc` (L2); per block of `mc` weight rows, each weight sliver is read
///   from memory once and meets every B sliver.
/// - `multiplyTransposed`, a linear layer's C = A · Wᵀ (+ C): A [n, k] (activation rows) packed
///   per call into 6-row slivers, a block of `mcActivations` rows per K block (L2); Wᵀ packed by
///   `packTransposedWeight` into slivers of 16 weight rows, streamed from memory past the block.
///
/// Packed weights: K blocks of `kc` in order; in each, the slivers side by side, each k-major
/// (the 6 or 16 weight rows of one k adjacent), rows past m zero; so sliver s of the block at p0
/// starts at `roundUp(m, width) · p0 + s · width · kb` floats.
///
/// The packed weight holds f32, or f16, bf16 or q8_0 (such a checkpoint stays near its file's
/// size) widened a block at a time into scratch just before the kernel uses it: a weight row
/// block per B panel in `multiply`, a 16-row sliver per activation block in
/// `multiplyTransposed`, so each element is widened once per product when the activations fit
/// one panel or block (up to 256 columns, 144 rows). q8_0 keeps its int8 values in the same
/// layout and after them (from `q8ScalesByteOffset`) each sliver's scales per group of 32 k
/// ([kb / 32][width] floats), so element o's group scale is float o / 32 of the scales.
///
/// Every function here requires AVX2, FMA and F16C; callers check the CPU first.
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

    /// Floats of scratch `multiply` and `multiplyTransposed` need: the B panel or A block, the
    /// edge tile, and a 16-bit or q8_0 weight's widened block.
    package static let scratchFloats = max(nc, mcActivations) * kc + mr * nr + widenedFloats

    /// Floats of a 16-bit or q8_0 weight's widened block: `mc` rows (`multiply`) or one sliver of
    /// `nr` (`multiplyTransposed`) of a K block.
    static let widenedFloats = max(mc, nr) * kc

    /// Packs weight rows `firstRow..<firstRow+count` (row-major, `k` per row, at `rows`) into the
    /// packed weight of `m` rows at `destination`. `firstRow` must start a sliver (a multiple of
    /// 6); `count` must end one unless it reaches `m`.
    package static func packWeight(
        rows: UnsafePointer<Float>, firstRow: Int, count: Int, m: Int, k: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        packSlivers(rows: rows, firstRow: firstRow, count: count, m: m, k: k, width: mr, into: destination)
    }

    /// `packWeight` for an f16 or bf16 weight: the rows as 16-bit patterns (2-byte aligned), packed
    /// as such.
    package static func packWeight(
        halfRows rows: UnsafePointer<UInt16>, firstRow: Int, count: Int, m: Int, k: Int,
        into destination: UnsafeMutablePointer<UInt16>
    ) {
        packSlivers(rows: rows, firstRow: firstRow, count: count, m: m, k: k, width: mr, into: destination)
    }

    /// `packWeight` for a q8_0 weight (rows of k / 32 blocks: an f16 scale, then 32 int8) into
    /// `packedQ8Bytes(m:k:width: mr)` bytes.
    package static func packWeight(
        q8Rows rows: UnsafeRawPointer, firstRow: Int, count: Int, m: Int, k: Int, into destination: UnsafeMutableRawPointer
    ) {
        packQ8Slivers(rows: rows, firstRow: firstRow, count: count, m: m, k: k, width: mr, into: destination)
    }

    /// Bytes of a q8_0 weight of `m` rows of `k` packed in slivers of `width`: the int8 values
    /// (one per element, where the f32 form has a float), then, from `q8ScalesByteOffset`, the
    /// scales (one float per 32).
    package static func packedQ8Bytes(m: Int, k: Int, width: Int) -> Int {
        q8ScalesByteOffset(m: m, k: k, width: width) + roundUp(m, width) * k / 32 * 4
    }

    static func q8ScalesByteOffset(m: Int, k: Int, width: Int) -> Int { roundUp(roundUp(m, width) * k, 64) }

    /// q8_0 rows in slivers of `width` rows: element o's value at byte o, its group's scale at
    /// float o / 32 of the scales (see the type's comment).
    private static func packQ8Slivers(
        rows: UnsafeRawPointer, firstRow: Int, count: Int, m: Int, k: Int, width: Int, into destination: UnsafeMutableRawPointer
    ) {
        precondition(firstRow % width == 0 && (count % width == 0 || firstRow + count == m), "AVX2Gemm: rows not sliver-aligned")
        precondition(k % 32 == 0, "AVX2Gemm: q8_0 rows are whole blocks of 32")
        let paddedRows = roundUp(m, width)
        let quants = destination.assumingMemoryBound(to: Int8.self)
        let scales = (destination + q8ScalesByteOffset(m: m, k: k, width: width)).assumingMemoryBound(to: Float.self)
        let blockBytes = 34, rowBytes = k / 32 * blockBytes
        for p0 in stride(from: 0, to: k, by: kc) {
            let kb = min(kc, k - p0)
            for s0 in stride(from: 0, to: count, by: width) {
                let o = paddedRows * p0 + (firstRow + s0) * kb
                for r in 0..<width {
                    for g in 0..<kb / 32 {
                        guard s0 + r < count else {
                            scales[o / 32 + g * width + r] = 0
                            for p in 0..<32 { quants[o + (g * 32 + p) * width + r] = 0 }
                            continue
                        }
                        let block = rows + (s0 + r) * rowBytes + (p0 / 32 + g) * blockBytes
                        scales[o / 32 + g * width + r] = Float(Float16(bitPattern: block.loadUnaligned(as: UInt16.self)))
                        for p in 0..<32 {
                            quants[o + (g * 32 + p) * width + r] = block.load(fromByteOffset: 2 + p, as: Int8.self)
                        }
                    }
                }
            }
        }
    }

    /// Weight rows in slivers of `width` rows (6 for `packWeight`, 16 for `packTransposedWeight`).
    private static func packSlivers<Element: AdditiveArithmetic>(
        rows: UnsafePointer<Element>, firstRow: Int, count: Int, m: Int, k: Int, width: Int,
        into destination: UnsafeMutablePointer<Element>
    ) {
        precondition(firstRow % width == 0 && (count % width == 0 || firstRow + count == m), "AVX2Gemm: rows not sliver-aligned")
        let paddedRows = roundUp(m, width)
        for p0 in stride(from: 0, to: k, by: kc) {
            let kb = min(kc, k - p0)
            for s0 in stride(from: 0, to: count, by: width) {
                let out = destination + paddedRows * p0 + (firstRow + s0) / width * width * kb
                for r in 0..<width {
                    if s0 + r < count {
                        let src = rows + (s0 + r) * k + p0
                        for p in 0..<kb { out[p * width + r] = src[p] }
                    } else {
                        for p in 0..<kb { out[p * width + r] = .zero }
                    }
                }
            }
        }
    }

    /// What a packed weight holds (see the type's comment).
    package enum PackedElement {
        case float32
        /// 16-bit elements: f16 or bf16, packed as their bit patterns.
        case float16, bfloat16
        /// int8 values, then their group scales.
        case q8_0
    }

    /// C[rows, n] = W[firstRow..<firstRow+rows] · B (+ C when `accumulate`) for a weight packed
    /// by `packWeight` as `element`; `firstRow` is a multiple of 6 and k > 0
    /// (`WeightMatrix.multiply` returns before an empty product); B[p, j] is b[p·ldb + j], C[i, j]
    /// is c[i·ldc + j]. `scratch` holds `scratchFloats`.
    package static func multiply(
        packedWeight: UnsafeRawPointer, element: PackedElement, m: Int, k: Int, firstRow: Int, rows: Int,
        b: UnsafePointer<Float>, ldb: Int, n: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        scratch: UnsafeMutablePointer<Float>
    ) {
        func run(_ weight: some PackedSlivers) {
            multiply(
                weight, m: m, k: k, firstRow: firstRow, rows: rows, b: b, ldb: ldb, n: n, c: c, ldc: ldc,
                accumulate: accumulate, scratch: scratch)
        }
        switch element {
        case .float32: run(FloatSlivers(base: packedWeight.assumingMemoryBound(to: Float.self)))
        case .float16, .bfloat16: run(HalfSlivers(packedWeight, isBFloat: element == .bfloat16, scratch: scratch))
        case .q8_0: run(Q8Slivers(packedWeight, m: m, k: k, width: mr, scratch: scratch))
        }
    }

    private static func multiply<Weight: PackedSlivers>(
        _ weight: Weight, m: Int, k: Int, firstRow: Int, rows: Int,
        b: UnsafePointer<Float>, ldb: Int, n: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        scratch: UnsafeMutablePointer<Float>
    ) {
        precondition(firstRow % mr == 0 && k > 0, "AVX2Gemm: row range not sliver-aligned, or an empty K")
        guard rows > 0, n > 0 else { return }
        let paddedRows = roundUp(m, mr)
        let panel = scratch, edge = scratch + nc * kc
        for j0 in stride(from: 0, to: n, by: nc) {
            let nb = min(nc, n - j0)
            for p0 in stride(from: 0, to: k, by: kc) {
                let kb = min(kc, k - p0)
                packPanel(b, ldb: ldb, k: p0, kb, columns: j0, nb, into: panel)
                let target = Target(c: c, ldc: ldc, accumulate: accumulate || p0 > 0, edge: edge)
                for i0 in stride(from: 0, to: rows, by: mc) {
                    let ib = min(mc, rows - i0)
                    // This block's slivers, contiguous in the packed weight (rows past m are zero).
                    let block = weight.floats(
                        at: paddedRows * p0 + (firstRow + i0) * kb, slivers: (ib + mr - 1) / mr, width: mr, steps: kb)
                    for jr in stride(from: 0, to: nb, by: nr) {
                        let sliverB = panel + jr * kb
                        for ir in stride(from: 0, to: ib, by: mr) {
                            let sliverA = block + ir * kb
                            kernel(
                                sliverA, sliverB, steps: kb, target, row: i0 + ir, column: j0 + jr,
                                rows: min(mr, ib - ir), columns: min(nr, nb - jr))
                        }
                    }
                }
            }
        }
    }

    // MARK: - Linear layers: out = act · Wᵀ

    /// Rows of activations packed per block for `multiplyTransposed` (24 slivers, 144 KB in L2):
    /// the 128 tokens of a UNet 8x8 level under CFG in one block, so the weight is read once.
    static let mcActivations = 144

    /// Floats of a weight with `m` rows of `k` packed as B = Wᵀ (`packTransposedWeight`).
    package static func packedTransposedFloats(m: Int, k: Int) -> Int { roundUp(m, nr) * k }

    /// Packs weight rows `firstRow..<firstRow+count` (row-major, `k` per row, at `rows`) as
    /// columns of B = Wᵀ: K blocks of `kc` in order; in each, slivers of 16 weight rows
    /// [kb][16] side by side (rows past `m` zero), sliver s of block p0 at `roundUp(m, 16) · p0 +
    /// s · 16 · kb`. `firstRow` must be a multiple of 16; `count` must too unless it reaches `m`.
    package static func packTransposedWeight(
        rows: UnsafePointer<Float>, firstRow: Int, count: Int, m: Int, k: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        packSlivers(rows: rows, firstRow: firstRow, count: count, m: m, k: k, width: nr, into: destination)
    }

    /// `packTransposedWeight` for a q8_0 weight, into `packedQ8Bytes(m:k:width: nr)` bytes.
    package static func packTransposedWeight(
        q8Rows rows: UnsafeRawPointer, firstRow: Int, count: Int, m: Int, k: Int, into destination: UnsafeMutableRawPointer
    ) {
        packQ8Slivers(rows: rows, firstRow: firstRow, count: count, m: m, k: k, width: nr, into: destination)
    }

    /// `packTransposedWeight` for an f16 or bf16 weight: the rows as 16-bit patterns, packed as such.
    package static func packTransposedWeight(
        halfRows rows: UnsafePointer<UInt16>, firstRow: Int, count: Int, m: Int, k: Int,
        into destination: UnsafeMutablePointer<UInt16>
    ) {
        packSlivers(rows: rows, firstRow: firstRow, count: count, m: m, k: k, width: nr, into: destination)
    }

    /// C[n, columns] = A · Wᵀ (+ C when `accumulate`) for the weight rows (output features)
    /// `firstColumn..<firstColumn+columns`, a multiple of 16, and k > 0: A[i, p] is a[i·lda + p] (n
    /// activation rows of k), W packed by `packTransposedWeight` as `element` (m rows), C[i, j] is
    /// c[i·ldc + j]. Per K block and block of `mcActivations` rows, A is packed once (L2) and
    /// the weight's slivers stream past it from memory, each used by every A sliver from L1.
    package static func multiplyTransposed(
        activations a: UnsafePointer<Float>, lda: Int, n: Int, packedWeight: UnsafeRawPointer, element: PackedElement,
        m: Int, k: Int, firstColumn: Int, columns: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        scratch: UnsafeMutablePointer<Float>
    ) {
        func run(_ weight: some PackedSlivers) {
            multiplyTransposed(
                activations: a, lda: lda, n: n, weight, m: m, k: k, firstColumn: firstColumn, columns: columns, c: c,
                ldc: ldc, accumulate: accumulate, scratch: scratch)
        }
        switch element {
        case .float32: run(FloatSlivers(base: packedWeight.assumingMemoryBound(to: Float.self)))
        case .float16, .bfloat16: run(HalfSlivers(packedWeight, isBFloat: element == .bfloat16, scratch: scratch))
        case .q8_0: run(Q8Slivers(packedWeight, m: m, k: k, width: nr, scratch: scratch))
        }
    }

    private static func multiplyTransposed<Weight: PackedSlivers>(
        activations a: UnsafePointer<Float>, lda: Int, n: Int, _ weight: Weight, m: Int, k: Int,
        firstColumn: Int, columns: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        scratch: UnsafeMutablePointer<Float>
    ) {
        precondition(firstColumn % nr == 0 && k > 0, "AVX2Gemm: column range not sliver-aligned, or an empty K")
        guard n > 0, columns > 0 else { return }
        let paddedRows = roundUp(m, nr)
        let block = scratch, edge = scratch + mcActivations * kc
        for p0 in stride(from: 0, to: k, by: kc) {
            let kb = min(kc, k - p0)
            let target = Target(c: c, ldc: ldc, accumulate: accumulate || p0 > 0, edge: edge)
            for i0 in stride(from: 0, to: n, by: mcActivations) {
                let ib = min(mcActivations, n - i0)
                for ir in stride(from: 0, to: ib, by: mr) {
                    packActivationSliver(a + (i0 + ir) * lda + p0, lda: lda, rows: min(mr, ib - ir), kb, into: block + ir * kb)
                }
                for jr in stride(from: 0, to: columns, by: nr) {
                    let sliverB = weight.floats(at: paddedRows * p0 + (firstColumn + jr) * kb, slivers: 1, width: nr, steps: kb)
                    for ir in stride(from: 0, to: ib, by: mr) {
                        kernel(
                            block + ir * kb, sliverB, steps: kb, target, row: i0 + ir, column: jr,
                            rows: min(mr, ib - ir), columns: min(nr, columns - jr))
                    }
                }
            }
        }
    }

    /// `rows` (at most 6) activation rows of `kb` into a sliver [kb][6]; missing rows zero.
    private static func packActivationSliver(
        _ a: UnsafePointer<Float>, lda: Int, rows: Int, _ kb: Int, into out: UnsafeMutablePointer<Float>
    ) {
        if rows == mr {
            let s0 = a, s1 = a + lda, s2 = s1 + lda, s3 = s2 + lda, s4 = s3 + lda, s5 = s4 + lda
            var o = out
            for p in 0..<kb {
                o[0] = s0[p]; o[1] = s1[p]; o[2] = s2[p]
                o[3] = s3[p]; o[4] = s4[p]; o[5] = s5[p]
                o += mr
            }
            return
        }
        out.initialize(repeating: 0, count: kb * mr)
        for r in 0..<rows {
            let src = a + r * lda
            for p in 0..<kb { out[p * mr + r] = src[p] }
        }
    }

    // MARK: -

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

    /// Where the micro-kernel's weight slivers come from.
    protocol PackedSlivers {
        /// `slivers` consecutive slivers of `width` rows and `steps` k of the packed weight, from
        /// element `offset`, as floats, valid until the next call.
        func floats(at offset: Int, slivers: Int, width: Int, steps: Int) -> UnsafePointer<Float>
    }

    /// An f32 packed weight, read in place.
    struct FloatSlivers: PackedSlivers {
        let base: UnsafePointer<Float>
        @inline(__always) func floats(at offset: Int, slivers: Int, width: Int, steps: Int) -> UnsafePointer<Float> {
            base + offset
        }
    }

    /// An f16 or bf16 packed weight (16-bit elements), widened into `widened` (`widenedFloats`) on
    /// each call: with F16C for f16, by a shift for bf16 (both exact).
    struct HalfSlivers: PackedSlivers {
        let base: UnsafePointer<UInt16>
        let widened: UnsafeMutablePointer<Float>
        let isBFloat: Bool

        /// The weight packed at `packed`, widened into the end of `scratch` (`scratchFloats`).
        init(_ packed: UnsafeRawPointer, isBFloat: Bool, scratch: UnsafeMutablePointer<Float>) {
            base = packed.assumingMemoryBound(to: UInt16.self)
            widened = scratch + scratchFloats - widenedFloats
            self.isBFloat = isBFloat
        }
        @inline(__always) func floats(at offset: Int, slivers: Int, width: Int, steps: Int) -> UnsafePointer<Float> {
            if isBFloat {
                AVX2Convert.bfloatToFloat(base + offset, count: slivers * width * steps, into: widened)
            } else {
                AVX2Convert.halfToFloat(base + offset, count: slivers * width * steps, into: widened)
            }
            return UnsafePointer(widened)
        }
    }

    /// A q8_0 packed weight (int8 values and group scales), widened into `widened` on each call:
    /// y = scale · q, the product the q8_0 decoder makes, so the same values.
    struct Q8Slivers: PackedSlivers {
        let quants: UnsafePointer<Int8>
        let scales: UnsafePointer<Float>
        let widened: UnsafeMutablePointer<Float>

        /// The weight of `m` rows of `k` packed in slivers of `width` at `packed`, widened into
        /// the end of `scratch` (`scratchFloats`).
        init(_ packed: UnsafeRawPointer, m: Int, k: Int, width: Int, scratch: UnsafeMutablePointer<Float>) {
            quants = packed.assumingMemoryBound(to: Int8.self)
            scales = (packed + q8ScalesByteOffset(m: m, k: k, width: width)).assumingMemoryBound(to: Float.self)
            widened = scratch + scratchFloats - widenedFloats
        }

        func floats(at offset: Int, slivers: Int, width: Int, steps: Int) -> UnsafePointer<Float> {
            // A group (32 k of a sliver) is [32][width]; its `width` scales repeat with period
            // `width`, so as 8-lane vectors the scale pattern repeats every 24 elements for 6-row
            // slivers (3 vectors) and every 16 for 16-row ones (2 vectors).
            precondition((width == mr || width == nr) && steps % 32 == 0, "AVX2Gemm: q8_0 sliver shape")
            var out = UnsafeMutableRawPointer(widened)
            var q = UnsafeRawPointer(quants + offset)
            var scale = scales + offset / 32
            @inline(__always) func emit(_ s: F8) {
                out.storeBytes(of: F8(SIMD8<Int32>(truncatingIfNeeded: q.loadUnaligned(as: SIMD8<Int8>.self))) * s, as: F8.self)
                q += 8
                out += 32
            }
            for _ in 0..<(slivers * steps / 32) {
                if width == nr {
                    let s0 = UnsafeRawPointer(scale).loadUnaligned(as: F8.self)
                    let s1 = UnsafeRawPointer(scale).loadUnaligned(fromByteOffset: 32, as: F8.self)
                    for _ in 0..<32 { emit(s0); emit(s1) }
                } else {
                    let (a, b, c, d, e, f) = (scale[0], scale[1], scale[2], scale[3], scale[4], scale[5])
                    let s0 = F8(a, b, c, d, e, f, a, b), s1 = F8(c, d, e, f, a, b, c, d), s2 = F8(e, f, a, b, c, d, e, f)
                    for _ in 0..<8 { emit(s0); emit(s1); emit(s2) }
                }
                scale += width
            }
            return UnsafePointer(widened)
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
