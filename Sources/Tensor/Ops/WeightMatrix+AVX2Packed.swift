#if arch(x86_64)
import TensorKernelsAVX2

extension WeightMatrix {
    /// Activations per product (a convolution batch's output pixels, a linear layer's tokens) up
    /// to which the `avx2` level multiplies an f32, f16, bf16 or q8_0 weight with `AVX2Gemm`
    /// rather than OpenBLAS. Measured on Zen 2, 2 threads, f32 weight 1280x11520 (a 3x3 conv of
    /// the UNet's 8x8 and 4x4 levels) against OpenBLAS on the same product: 1.40x at 32 columns,
    /// 1.08x at 128; 640x5760 at 512 even; 320x2880 at 2048 0.90x. An f16 weight gains more (OpenBLAS
    /// needs it decoded per use): on Zen 5 at this level, 2x1280x8x8 189 -> 233 GFLOP/s, 4x4
    /// 113–136 -> 183; above the threshold the per-use decode is under 1 % of the product. q8_0
    /// gains less (its decode is cheaper): UNet step at 256 1.62 -> 1.58 s, f16 1.72 -> 1.56.
    static let avx2PackedColumns = 256

    /// The packed form's cache key for a layout: W as the left operand (6-row slivers) or as
    /// B = Wᵀ (16-row slivers).
    private static func avx2Key(_ layout: WeightProductLayout) -> String {
        layout == .weightTimesActivationColumns ? "avx2" : "avx2-transposed"
    }

    /// Whether `multiply` takes `AVX2Gemm`: an f32, f16, bf16 or q8_0 weight from a file at the
    /// `avx2` level, with few activations, or any number once the weight is packed (its file pages
    /// are then gone). f16, bf16 and q8_0 weights keep their element size in the packed form.
    func usesAVX2Packed(_ layout: WeightProductLayout, count: Int) -> Bool {
        guard CPUKernels.active == .avx2, case .stored(let stored) = storage,
            [.f32, .f16, .bf16, .q8_0].contains(stored.dtype)
        else { return false }
        return count <= WeightMatrix.avx2PackedColumns || packCache.contains(WeightMatrix.avx2Key(layout))
    }

    /// The weight packed for `AVX2Gemm` in `layout`'s form, made on first use from the file a
    /// tile at a time (`packInTiles`): the packed copy replaces the mapping in memory. f32
    /// weights are packed as floats, f16 and bf16 ones as their 16-bit patterns, q8_0 ones as
    /// int8 values and scales.
    func avx2PackedWeight(_ stored: StoredTensor, _ layout: WeightProductLayout) -> PackedBuffer {
        packCache.operand(for: WeightMatrix.avx2Key(layout)) {
            let asLeft = layout == .weightTimesActivationColumns
            let sliver = asLeft ? AVX2Gemm.mr : AVX2Gemm.nr
            let elements = asLeft
                ? AVX2Gemm.packedFloats(m: rows, k: columns) : AVX2Gemm.packedTransposedFloats(m: rows, k: columns)
            let tileRows = max(sliver, WeightMatrix.decodeTileFloats / max(columns, 1) / sliver * sliver)
            switch stored.dtype {
            case .q8_0:
                let buffer = PackedBuffer(byteCount: AVX2Gemm.packedQ8Bytes(m: rows, k: columns, width: sliver))
                let rowBytes = columns / stored.dtype.blockSize * stored.dtype.blockBytes
                packInTiles(stored, tileRows: tileRows) { tile in
                    guard let base = stored.bytes.baseAddress else { return }
                    let source = base + tile.lowerBound * rowBytes
                    if asLeft {
                        AVX2Gemm.packWeight(
                            q8Rows: source, firstRow: tile.lowerBound, count: tile.count, m: rows, k: columns,
                            into: buffer.pointer)
                    } else {
                        AVX2Gemm.packTransposedWeight(
                            q8Rows: source, firstRow: tile.lowerBound, count: tile.count, m: rows, k: columns,
                            into: buffer.pointer)
                    }
                }
                return buffer
            case .f16, .bf16:
                let buffer = PackedBuffer(byteCount: elements * 2)
                let packed = buffer.pointer.assumingMemoryBound(to: UInt16.self)
                packInTiles(stored, tileRows: tileRows) { tile in
                    func pack(_ source: UnsafePointer<UInt16>) {
                        if asLeft {
                            AVX2Gemm.packWeight(
                                halfRows: source, firstRow: tile.lowerBound, count: tile.count, m: rows, k: columns,
                                into: packed)
                        } else {
                            AVX2Gemm.packTransposedWeight(
                                halfRows: source, firstRow: tile.lowerBound, count: tile.count, m: rows, k: columns,
                                into: packed)
                        }
                    }
                    let tileBytes = UnsafeRawBufferPointer(
                        rebasing: stored.bytes[(tile.lowerBound * columns * 2)..<(tile.upperBound * columns * 2)])
                    guard let base = tileBytes.baseAddress else { return }
                    if Int(bitPattern: base) % MemoryLayout<UInt16>.alignment == 0 {
                        pack(base.assumingMemoryBound(to: UInt16.self))
                    } else {
                        // A file may place a tensor at an odd offset.
                        let halfs = [UInt16](unsafeUninitializedCapacity: tile.count * columns) { out, initialized in
                            UnsafeMutableRawBufferPointer(out).copyMemory(from: tileBytes)
                            initialized = tile.count * columns
                        }
                        halfs.withUnsafeBufferPointer { if let p = $0.baseAddress { pack(p) } }
                    }
                }
                return buffer
            default:
                let buffer = PackedBuffer(byteCount: elements * 4)
                let packed = buffer.pointer.assumingMemoryBound(to: Float.self)
                let inPlace = stored.alignedFloat32Elements
                packInTiles(stored, tileRows: tileRows) { tile in
                    func pack(_ source: UnsafePointer<Float>) {
                        if asLeft {
                            AVX2Gemm.packWeight(
                                rows: source, firstRow: tile.lowerBound, count: tile.count, m: rows, k: columns, into: packed)
                        } else {
                            AVX2Gemm.packTransposedWeight(
                                rows: source, firstRow: tile.lowerBound, count: tile.count, m: rows, k: columns, into: packed)
                        }
                    }
                    if let inPlace {
                        pack(inPlace + tile.lowerBound * columns)
                    } else {
                        ScratchBuffers.withBuffer(count: tile.count * columns) { decoded in
                            stored.decode(elements: tile.lowerBound * columns..<tile.upperBound * columns, into: decoded)
                            pack(decoded)
                        }
                    }
                }
                return buffer
            }
        }
    }

    /// The product of `multiply` with `AVX2Gemm` (`beta` is 0 or 1). Workers take whole slivers
    /// of the weight (each reading only its part) or, for a convolution with many columns and
    /// few slivers, 16-column chunks of the activations.
    func multiplyAVX2Packed(
        _ layout: WeightProductLayout, _ stored: StoredTensor, activations: UnsafePointer<Float>, activationStride: Int,
        count: Int, output: UnsafeMutablePointer<Float>, outputStride: Int, beta: Float
    ) {
        precondition(beta == 0 || beta == 1, "multiplyAVX2Packed: beta \(beta)")
        let packedWeight = avx2PackedWeight(stored, layout)
        // The buffer stays alive until the product is done, even if the cache drops it.
        defer { withExtendedLifetime(packedWeight) {} }
        let packed = UnsafeRawPointer(packedWeight.pointer)
        let element: AVX2Gemm.PackedElement =
            switch stored.dtype {
            case .q8_0: .q8_0
            case .f16: .float16
            case .bf16: .bfloat16
            default: .float32
            }
        let work = rows.multipliedReportingOverflow(by: columns * count)
        let threads = (work.overflow || work.partialValue >= Gemm.parallelThreshold) ? Parallel.threadCount : 1
        let asLeft = layout == .weightTimesActivationColumns
        let sliver = asLeft ? AVX2Gemm.mr : AVX2Gemm.nr
        let slivers = (rows + sliver - 1) / sliver
        let splitWeight = !asLeft || count <= WeightMatrix.avx2PackedColumns * threads || slivers >= 8 * threads
        let units = splitWeight ? slivers : (count + AVX2Gemm.nr - 1) / AVX2Gemm.nr
        let chunks = max(1, min(threads, units))
        Parallel.forEach(chunks) { range in
            ScratchBuffers.withBuffer(count: AVX2Gemm.scratchFloats) { scratch in
                for chunk in range {
                    let u0 = units * chunk / chunks, u1 = units * (chunk + 1) / chunks
                    guard u0 < u1 else { continue }
                    let (r0, r1) = splitWeight ? (u0 * sliver, min(rows, u1 * sliver)) : (0, rows)
                    if asLeft {
                        // out[rows, count] = W · act, this chunk's rows r0..<r1 and columns c0..<c1
                        let (c0, c1) = splitWeight ? (0, count) : (u0 * AVX2Gemm.nr, min(count, u1 * AVX2Gemm.nr))
                        AVX2Gemm.multiply(
                            packedWeight: packed, element: element, m: rows, k: columns, firstRow: r0, rows: r1 - r0,
                            b: activations + c0, ldb: activationStride, n: c1 - c0, c: output + r0 * outputStride + c0,
                            ldc: outputStride, accumulate: beta != 0, scratch: scratch)
                    } else {
                        // out[count, rows] = act · Wᵀ, this chunk's output features r0..<r1
                        AVX2Gemm.multiplyTransposed(
                            activations: activations, lda: activationStride, n: count, packedWeight: packed,
                            element: element, m: rows, k: columns, firstColumn: r0, columns: r1 - r0, c: output + r0,
                            ldc: outputStride, accumulate: beta != 0, scratch: scratch)
                    }
                }
            }
        }
    }
}
#endif
