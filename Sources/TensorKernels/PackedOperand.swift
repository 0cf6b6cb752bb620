#if arch(x86_64)
/// A GEMM operand packed once in the micro-kernels' layout over all of K (a weight, packed the
/// first time it is used and then reused by every call).
///
/// Layout: K blocks of `AVX512Gemm.kc` in order; in each, the slivers of `width` (6 rows of A or
/// 64 columns of B) side by side, each as `AVX512Gemm` packs it per block. Every block but the
/// last is full, so a sliver's address is computed, not looked up.
package struct PackedOperand {
    package let base: UnsafeRawPointer
    package let precision: AVX512Gemm.Precision
    /// Rows of A or columns of B this operand holds (before padding to whole slivers).
    package let outer: Int
    package let k: Int
    /// 6 (an A operand) or 64 (a B operand).
    package let width: Int
    /// Slivers skipped: a view of a worker's row or column range starts here.
    package let firstSliver: Int
    /// Elements of K skipped (a multiple of `AVX512Gemm.kc`): a view of a K range starts here.
    package let firstK: Int

    package init(
        base: UnsafeRawPointer, precision: AVX512Gemm.Precision, outer: Int, k: Int, width: Int, firstSliver: Int = 0,
        firstK: Int = 0
    ) {
        precondition(width == AVX512Gemm.mr || width == AVX512Gemm.nr, "PackedOperand: width \(width)")
        precondition(firstK % AVX512Gemm.kc(precision) == 0, "PackedOperand: K view at \(firstK)")
        (self.base, self.precision, self.outer, self.k, self.width, self.firstSliver, self.firstK) =
            (base, precision, outer, k, width, firstSliver, firstK)
    }

    /// Width of an A operand's slivers (rows) and of a B operand's (columns).
    package static var rowSliver: Int { AVX512Gemm.mr }
    package static var columnSliver: Int { AVX512Gemm.nr }

    /// Bytes an operand of these sizes occupies.
    package static func byteCount(precision: AVX512Gemm.Precision, outer: Int, k: Int, width: Int) -> Int {
        let kc = AVX512Gemm.kc(precision)
        let full = k / kc, rest = k % kc
        let perElement = full * AVX512Gemm.kBytes(precision, kc) + (rest > 0 ? AVX512Gemm.kBytes(precision, rest) : 0)
        return AVX512Gemm.roundUp(outer, width) * perElement
    }

    /// The view starting `slivers` slivers further on (a row range of A starting at row 6·slivers,
    /// or a column range of B at column 64·slivers).
    package func advanced(bySlivers slivers: Int) -> PackedOperand {
        PackedOperand(
            base: base, precision: precision, outer: outer, k: k, width: width, firstSliver: firstSliver + slivers,
            firstK: firstK)
    }

    /// The view whose K starts `elements` further on (a multiple of `AVX512Gemm.kc`).
    package func advanced(byK elements: Int) -> PackedOperand {
        PackedOperand(
            base: base, precision: precision, outer: outer, k: k, width: width, firstSliver: firstSliver,
            firstK: firstK + elements)
    }

    /// Start of sliver `index` (relative to this view) of the K block starting at `p0`.
    @inline(__always)
    func sliver(_ index: Int, kBlock: Int) -> UnsafeRawPointer {
        let kc = AVX512Gemm.kc(precision), p0 = kBlock + firstK
        let blockStart = AVX512Gemm.roundUp(outer, width) * AVX512Gemm.kBytes(precision, kc) * (p0 / kc)
        let kb = min(kc, k - p0)
        return base + blockStart + (firstSliver + index) * AVX512Gemm.kBytes(precision, kb) * width
    }

    /// Packs the weight rows `firstRow..<firstRow+count` (row-major f32, `k` per row) into the
    /// operand at `destination`. A weight row is a row of A (width 6) or a column of B (width 64,
    /// B = Wᵀ). `firstRow` must start a sliver; `count` must end one unless it reaches `outer`.
    package func pack(rows: UnsafePointer<Float>, firstRow: Int, count: Int, into destination: UnsafeMutableRawPointer) {
        pack(Operand(base: rows, stride: k, transposed: width == AVX512Gemm.nr), firstRow: firstRow, count: count, into: destination)
    }

    /// Packs rows (A) or columns (B) `firstRow..<firstRow+count` of op(source), whose element
    /// (0, 0) is that first row's, into the operand at `destination` (a view at K 0, sliver 0).
    package func pack(_ source: Operand, firstRow: Int = 0, count: Int? = nil, into destination: UnsafeMutableRawPointer) {
        let count = count ?? outer
        precondition(firstRow % width == 0 && (count % width == 0 || firstRow + count == outer), "pack: rows not sliver-aligned")
        let kc = AVX512Gemm.kc(precision)
        for p0 in stride(from: 0, to: k, by: kc) {
            let kb = min(kc, k - p0)
            for start in stride(from: 0, to: count, by: width) {
                let target = destination + (sliver((firstRow + start) / width - firstSliver, kBlock: p0 - firstK) - base)
                AVX512Gemm.packSliver(
                    source, precision: precision, asA: width == AVX512Gemm.mr, start: start,
                    extent: min(width, count - start), k: p0, kb, into: target)
            }
        }
    }
}

/// The im2col matrix of a convolution, [Cin·kH·kW, images·Ho·Wo] (the images' output pixels side
/// by side), never stored: `gather` produces the [kb][64] piece a B sliver needs, straight from
/// the images. Small images (a 4x4 UNet level) are multiplied together so that the GEMM sees
/// whole 64-column slivers and reads the weight once for all of them.
package struct ConvolutionPatches {
    let image: UnsafePointer<Float>
    let h, w, kh, kw, strideY, strideX, padTop, padLeft, ho, wo: Int
    /// Floats from one image to the next.
    let imageStride: Int
    /// Output pixel of column 0 (a worker's share of the pixels starts here).
    var firstColumn = 0

    /// The same patches with column 0 at output pixel `firstColumn + columns`.
    package func advanced(byColumns columns: Int) -> ConvolutionPatches {
        var copy = self
        copy.firstColumn += columns
        return copy
    }

    /// images [Cin, H, W], `imageStride` floats apart; output size `ho` x `wo`.
    package init(
        image: UnsafePointer<Float>, h: Int, w: Int, kh: Int, kw: Int, strideY: Int, strideX: Int,
        padTop: Int, padLeft: Int, ho: Int, wo: Int, imageStride: Int = 0
    ) {
        (self.image, self.h, self.w, self.kh, self.kw) = (image, h, w, kh, kw)
        (self.strideY, self.strideX, self.padTop, self.padLeft, self.ho, self.wo) = (strideY, strideX, padTop, padLeft, ho, wo)
        self.imageStride = imageStride
    }

    /// Columns of one output row of one image, placed at column `offset` of the sliver.
    private struct Run {
        var image = 0, oy = 0, ox0 = 0, count = 0, offset = 0
    }

    /// Rows k..<k+kb (tap = (channel, ky, kx)) and columns column..<column+cols (output pixels)
    /// of im2col into dst [kb][64]; columns past `cols` and out-of-image taps are zero.
    func gather(k: Int, _ kb: Int, column: Int, _ cols: Int, into dst: UnsafeMutablePointer<Float>) {
        // The columns cut into runs within one output row once, for all taps.
        var runs = InlineArray<64, Run>(repeating: Run())
        var runCount = 0
        let pixels = ho * wo
        var (imageIndex, pixel) = (firstColumn + column).quotientAndRemainder(dividingBy: pixels)
        var o = 0
        while o < cols {
            let oy = pixel / wo, ox0 = pixel % wo
            let count = min(wo - ox0, cols - o)
            runs[runCount] = Run(image: imageIndex * imageStride, oy: oy, ox0: ox0, count: count, offset: o)
            runCount += 1
            o += count
            pixel += count
            if pixel == pixels { (imageIndex, pixel) = (imageIndex + 1, 0) }
        }
        let taps = kh * kw
        for p in 0..<kb {
            let tap = k + p
            let channel = tap / taps, ky = (tap % taps) / kw, kx = tap % kw
            let planeOffset = channel * h * w
            let out = dst + p * AVX512Gemm.nr
            // Output columns whose tap lands inside the image: ix = ox·sx + kx - padLeft in [0, w).
            let firstValid = max(0, (padLeft - kx + strideX - 1) / strideX)
            let reach = w - 1 + padLeft - kx
            let endValid = reach < 0 ? 0 : reach / strideX + 1
            // Fast path: all 64 columns in one output row, inside the image (stride 1): 4 vector copies.
            if strideX == 1 && cols == AVX512Gemm.nr && runCount == 1 {
                let run = runs[0], iy = run.oy * strideY + ky - padTop
                if iy >= 0 && iy < h && run.ox0 >= firstValid && run.ox0 + cols <= endValid {
                    let src = UnsafeRawPointer(image + run.image + planeOffset + iy * w + run.ox0 + kx - padLeft)
                    let dstRaw = UnsafeMutableRawPointer(out)
                    for q in 0..<4 {
                        dstRaw.storeBytes(
                            of: src.loadUnaligned(fromByteOffset: 64 * q, as: SIMD16<Float>.self), toByteOffset: 64 * q,
                            as: SIMD16<Float>.self)
                    }
                    continue
                }
            }
            for r in 0..<runCount {
                let run = runs[r]
                let (ox0, count) = (run.ox0, run.count)
                let target = out + run.offset
                let iy = run.oy * strideY + ky - padTop
                if iy < 0 || iy >= h {
                    target.initialize(repeating: 0, count: count)
                    continue
                }
                let lo = min(max(firstValid, ox0), ox0 + count), hi = max(lo, min(endValid, ox0 + count))
                if lo > ox0 { target.initialize(repeating: 0, count: lo - ox0) }
                let row = image + run.image + planeOffset + iy * w + (lo * strideX + kx - padLeft)
                let dstRun = target + (lo - ox0)
                if strideX == 1 {
                    dstRun.initialize(from: row, count: hi - lo)
                } else {
                    for i in 0..<(hi - lo) { dstRun[i] = row[i * strideX] }
                }
                if hi < ox0 + count { (target + (hi - ox0)).initialize(repeating: 0, count: ox0 + count - hi) }
            }
            if cols < AVX512Gemm.nr { (out + cols).initialize(repeating: 0, count: AVX512Gemm.nr - cols) }
        }
    }
}
#endif
