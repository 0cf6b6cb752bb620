#if arch(x86_64)
import TensorKernelsAVX2

extension WeightMatrix {
    /// Activation columns (output pixels of a convolution's batch) per product up to which the
    /// `avx2` level multiplies an f32 weight with `AVX2Gemm` rather than OpenBLAS. Measured on
    /// Zen 2, 2 threads, weight 1280x11520 (a 3x3 conv of the UNet's 8x8 and 4x4 levels) against
    /// OpenBLAS on the same product: 1.40x at 32 columns, 1.08x at 128; 640x5760 at 512 even;
    /// 320x2880 at 2048 0.90x.
    static let avx2PackedColumns = 256

    /// Whether `multiply` takes `AVX2Gemm`: W · act (a convolution) with an f32 weight from a file
    /// at the `avx2` level, and few columns, or any number once the weight is packed (its file
    /// pages are then gone). Linear layers stay on OpenBLAS: their act · Wᵀ would need the
    /// product transposed on the way out, which cost more than the packing saved (measured).
    func usesAVX2Packed(_ layout: WeightProductLayout, count: Int) -> Bool {
        guard CPUKernels.active == .avx2, layout == .weightTimesActivationColumns, case .stored(let stored) = storage,
            stored.dtype == .f32
        else { return false }
        return count <= WeightMatrix.avx2PackedColumns || packCache.contains("avx2")
    }

    /// The weight packed for `AVX2Gemm`, made on first use from the file a tile at a time, each
    /// tile's file pages released once packed: the packed copy replaces the mapping in memory.
    func avx2PackedWeight(_ stored: StoredTensor) -> PackedBuffer {
        packCache.operand(for: "avx2") {
            let buffer = PackedBuffer(byteCount: AVX2Gemm.packedFloats(m: rows, k: columns) * 4)
            let packed = buffer.pointer.assumingMemoryBound(to: Float.self)
            let mr = AVX2Gemm.mr
            let tileRows = max(mr, WeightMatrix.decodeTileFloats / max(columns, 1) / mr * mr)
            let inPlace = stored.alignedFloat32Elements
            packInTiles(stored, tileRows: tileRows) { tile in
                func pack(_ source: UnsafePointer<Float>) {
                    AVX2Gemm.packWeight(
                        rows: source, firstRow: tile.lowerBound, count: tile.count, m: rows, k: columns, into: packed)
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

    /// out[rows, count] (+)= W · act with `AVX2Gemm` (see `multiply`; `beta` is 0 or 1). Workers
    /// take whole 6-row slivers of the weight, each reading only its part, or 16-column chunks
    /// of the activations when there are many of those and few slivers.
    func multiplyAVX2Packed(
        _ stored: StoredTensor, activations: UnsafePointer<Float>, activationStride: Int, count: Int,
        output: UnsafeMutablePointer<Float>, outputStride: Int, beta: Float
    ) {
        precondition(beta == 0 || beta == 1, "multiplyAVX2Packed: beta \(beta)")
        let packedWeight = avx2PackedWeight(stored)
        // The buffer stays alive until the product is done, even if the cache drops it.
        defer { withExtendedLifetime(packedWeight) {} }
        let packed = UnsafePointer(packedWeight.pointer.assumingMemoryBound(to: Float.self))
        let work = rows.multipliedReportingOverflow(by: columns * count)
        let threads = (work.overflow || work.partialValue >= Gemm.parallelThreshold) ? Parallel.threadCount : 1
        let mr = AVX2Gemm.mr, nr = AVX2Gemm.nr
        let slivers = (rows + mr - 1) / mr
        let splitRows = count <= WeightMatrix.avx2PackedColumns * threads || slivers >= 8 * threads
        let units = splitRows ? slivers : (count + nr - 1) / nr
        let chunks = max(1, min(threads, units))
        Parallel.forEach(chunks) { range in
            ScratchBuffers.withBuffer(count: AVX2Gemm.scratchFloats) { scratch in
                for chunk in range {
                    let u0 = units * chunk / chunks, u1 = units * (chunk + 1) / chunks
                    guard u0 < u1 else { continue }
                    let (r0, r1) = splitRows ? (u0 * mr, min(rows, u1 * mr)) : (0, rows)
                    let (c0, c1) = splitRows ? (0, count) : (u0 * nr, min(count, u1 * nr))
                    AVX2Gemm.multiply(
                        packedWeight: packed, m: rows, k: columns, firstRow: r0, rows: r1 - r0,
                        b: activations + c0, ldb: activationStride, n: c1 - c0,
                        c: output + r0 * outputStride + c0, ldc: outputStride, accumulate: beta != 0, scratch: scratch)
                }
            }
        }
    }
}
#endif
