#if arch(x86_64)
import Foundation
import TensorKernels

extension AVX512Gemm.Precision {
    /// The kernels' arithmetic for a requested precision at the active level: bf16 only where the
    /// CPU has AVX-512 BF16 (`avx512`), f32 at `avx512f`.
    init(_ precision: ComputePrecision) { self = CPUKernels.effective(precision) == .bfloat16 ? .bfloat16 : .float32 }
}

/// Where the activation operand of a weight product comes from.
enum ActivationSource {
    /// A strided f32 matrix: [columns, count] for W·act (conv), [count, columns] for act·Wᵀ (linear).
    case matrix(UnsafePointer<Float>, stride: Int)
    /// The patches of one image's convolution (W·im2col without storing im2col).
    case patches(ConvolutionPatches)
}

extension PackedWeightCache {
    /// The weight packed for `key`, made by `make` the first time (others wait for it).
    func operand(for key: String, _ make: () -> PackedBuffer) -> PackedBuffer {
        lock.lock()
        defer { lock.unlock() }
        if let existing = entries[key] as? PackedBuffer { return existing }
        let made = make()
        entries[key] = made
        return made
    }
}

/// One packed weight's memory: its own anonymous mapping, so freeing it gives the pages back to
/// the system at once (heap blocks would stay in the process, see `TensorStorage`).
final class PackedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int
    /// The f32/bf16 GEMM view of the bytes (nil for the int8 layout of `AVX512Int8Gemm`).
    let operand: PackedOperand?

    init(precision: AVX512Gemm.Precision, outer: Int, k: Int, width: Int) {
        (pointer, byteCount) = PackedBuffer.map(PackedOperand.byteCount(precision: precision, outer: outer, k: k, width: width))
        operand = PackedOperand(base: UnsafeRawPointer(pointer), precision: precision, outer: outer, k: k, width: width)
    }

    init(byteCount: Int) {
        (pointer, self.byteCount) = PackedBuffer.map(byteCount)
        operand = nil
    }

    private static func map(_ bytes: Int) -> (UnsafeMutableRawPointer, Int) {
        let count = max(64, bytes)
        let mapped = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(mapped != MAP_FAILED && mapped != nil, "PackedBuffer: cannot map \(count) bytes")
        return (mapped!, count)
    }

    deinit { munmap(pointer, byteCount) }
}

extension WeightMatrix {
    /// The weight packed for the AVX-512 kernels as A (`width` 6) or B (`width` 64). Stored
    /// weights are packed on first use and their file pages released, so the packed copy
    /// replaces the mapping in memory instead of adding to it; dense (f32 in memory) weights are
    /// packed per call by the kernel and return nil. Callers keep the returned buffer alive while
    /// they use its memory: `PackedWeights.releaseAll` may drop it from the cache meanwhile.
    func packedBuffer(_ precision: AVX512Gemm.Precision, width: Int) -> PackedBuffer? {
        guard case .stored(let stored) = storage else { return nil }
        return packCache.operand(for: "\(precision)/\(width)") {
            let buffer = PackedBuffer(precision: precision, outer: rows, k: columns, width: width)
            // About `decodeTileFloats` decoded at a time (whole slivers), then packed.
            let tileRows = max(width, WeightMatrix.decodeTileFloats / max(columns, 1) / width * width)
            packInTiles(stored, tileRows: tileRows) { tile in
                ScratchBuffers.withBuffer(count: tile.count * columns) { decoded in
                    stored.decode(elements: tile.lowerBound * columns..<tile.upperBound * columns, into: decoded)
                    buffer.operand?.pack(rows: decoded, firstRow: tile.lowerBound, count: tile.count, into: buffer.pointer)
                }
            }
            return buffer
        }
    }

    /// Runs `pack` on the weight's rows a tile of `tileRows` at a time across workers, giving
    /// each tile's file pages back once it is packed: the file's copy of a weight is never
    /// resident whole beside its packed copy (up to 118 MB for an f32 SD 1.5 convolution).
    func packInTiles(_ stored: StoredTensor, tileRows: Int, _ pack: (_ rows: Range<Int>) -> Void) {
        Parallel.forEach((rows + tileRows - 1) / tileRows) { range in
            for t in range {
                let r0 = t * tileRows, r1 = min(rows, r0 + tileRows)
                pack(r0..<r1)
                stored.releaseFilePages(elements: r0 * columns..<r1 * columns)
            }
        }
        stored.releaseFilePages()
    }

    /// A q8_0 linear weight packed for `AVX512Int8Gemm` (see `packedBuffer` for the memory).
    func packedInt8Weight(_ stored: StoredTensor) -> PackedBuffer {
        packCache.operand(for: "int8") {
            let buffer = PackedBuffer(byteCount: AVX512Int8Gemm.packedWeightBytes(n: rows, k: columns))
            let rowBytes = columns / 32 * stored.dtype.blockBytes
            packInTiles(stored, tileRows: 256) { tile in
                guard let base = stored.bytes.baseAddress else { return }
                AVX512Int8Gemm.packWeight(
                    q8Rows: base + tile.lowerBound * rowBytes, firstRow: tile.lowerBound, count: tile.count, k: columns,
                    into: buffer.pointer)
            }
            return buffer
        }
    }

    /// out[count, rows] (+)= act · Wᵀ for a q8_0 weight with VNNI int8 products: activation rows
    /// split across workers (3-row tiles), or weight columns (64) when there are few rows.
    func multiplyInt8(
        _ stored: StoredTensor, activations: UnsafePointer<Float>, activationStride: Int, count: Int,
        output: UnsafeMutablePointer<Float>, outputStride: Int, beta: Float
    ) {
        let packed = packedInt8Weight(stored)
        // The buffer stays alive until the product is done, even if the cache drops it.
        defer { withExtendedLifetime(packed) {} }
        let work = rows.multipliedReportingOverflow(by: columns * count)
        let threads = (work.overflow || work.partialValue >= Gemm.parallelThreshold) ? Parallel.threadCount : 1
        let splitRows = threads == 1 || count >= 2 * 3 * threads
        let extent = splitRows ? count : rows, grain = splitRows ? 3 : 64
        let units = (extent + grain - 1) / grain
        let chunks = max(1, min(threads, units))
        let bytes = AVX512Int8Gemm.scratchBytes(k: columns)
        Parallel.forEach(chunks) { range in
            ScratchBuffers.withBuffer(count: (bytes + 3) / 4) { scratch in
                for chunk in range {
                    let lo = min(extent, units * chunk / chunks * grain), hi = min(extent, units * (chunk + 1) / chunks * grain)
                    guard lo < hi else { continue }
                    let (m0, m1) = splitRows ? (lo, hi) : (0, count)
                    let (n0, n1) = splitRows ? (0, rows) : (lo, hi)
                    AVX512Int8Gemm.multiply(
                        m: m1 - m0, n: n1 - n0, k: columns, activations: activations + m0 * activationStride,
                        actStride: activationStride, weight: UnsafeRawPointer(packed.pointer), firstSliver: n0 / 64,
                        out: output + m0 * outputStride + n0, ldc: outputStride, accumulate: beta != 0,
                        scratch: UnsafeMutableRawPointer(scratch))
                }
            }
        }
    }

    /// The product with the AVX-512 kernels (see `multiply`). Work is split along the activation
    /// dimension (each worker packs only its own activations, all share the packed weight), or
    /// along whole weight slivers when the activations are too few.
    func multiplyPacked(
        _ layout: WeightProductLayout, source: ActivationSource, count: Int,
        output: UnsafeMutablePointer<Float>, outputStride: Int, beta: Float, precision: ComputePrecision
    ) {
        let p = AVX512Gemm.Precision(precision)
        // VNNI int8 products go with bf16 arithmetic: both need the `avx512` level.
        if layout == .activationRowsTimesTransposedWeight, p == .bfloat16, case .stored(let stored) = storage,
            stored.dtype == .q8_0, case .matrix(let act, let stride) = source
        {
            multiplyInt8(
                stored, activations: act, activationStride: stride, count: count, output: output,
                outputStride: outputStride, beta: beta)
            return
        }
        let weightIsA = layout == .weightTimesActivationColumns
        let width = weightIsA ? PackedOperand.rowSliver : PackedOperand.columnSliver
        let packedWeight = packedBuffer(p, width: width)
        // The buffer stays alive until the product is done, even if the cache drops it.
        defer { withExtendedLifetime(packedWeight) {} }
        let packed = packedWeight?.operand
        let work = rows.multipliedReportingOverflow(by: columns * count)
        let threads = (work.overflow || work.partialValue >= Gemm.parallelThreshold) ? Parallel.threadCount : 1
        // Split the activations into chunks of whole 64-column (conv) or 6-row (linear) tiles when
        // there are enough for every worker; otherwise split the weight.
        let activationTile = weightIsA ? 64 : 6
        let splitActivations = threads == 1 || count >= 2 * activationTile * threads
        let extent = splitActivations ? count : rows
        let grain = splitActivations ? activationTile : width
        let chunks = max(1, min(threads, (extent + grain - 1) / grain))

        withDenseWeight { dense in
            // The weight: packed once (stored weights) or packed per call from memory (dense ones).
            let weight: WeightOperandSource
            if let packed {
                weight = .packed(packed)
            } else if let dense {
                weight = .dense(dense)
            } else {
                return
            }
            Parallel.forEach(chunks) { range in
                for chunk in range {
                    // Chunk bounds rounded to the grain so workers meet on tile boundaries.
                    let units = (extent + grain - 1) / grain
                    let lo = min(extent, units * chunk / chunks * grain), hi = min(extent, units * (chunk + 1) / chunks * grain)
                    guard lo < hi else { continue }
                    let (c0, c1) = splitActivations ? (lo, hi) : (0, count)
                    let (r0, r1) = splitActivations ? (0, rows) : (lo, hi)
                    let left: LeftOperand, right: RightOperand
                    switch (weightIsA, source) {
                    case (true, .matrix(let act, let stride)):
                        left = weight.left(firstRow: r0, width: width, columns: columns)
                        right = .strided(Operand(base: act + c0, stride: stride, transposed: false))
                    case (true, .patches(let patches)):
                        left = weight.left(firstRow: r0, width: width, columns: columns)
                        right = .patches(patches.advanced(byColumns: c0))
                    case (false, .matrix(let act, let stride)):
                        left = .strided(Operand(base: act + c0 * stride, stride: stride, transposed: false))
                        right = weight.right(firstRow: r0, width: width, columns: columns)
                    case (false, .patches):
                        preconditionFailure("multiplyPacked: convolution patches are multiplied by the weight from the left")
                    }
                    let (m, n) = weightIsA ? (r1 - r0, c1 - c0) : (c1 - c0, r1 - r0)
                    let c = weightIsA ? output + r0 * outputStride + c0 : output + c0 * outputStride + r0
                    let bytes = AVX512Gemm.scratchBytes(precision: p, m: m, n: n, k: columns)
                    ScratchBuffers.withBuffer(count: (bytes + 3) / 4) { scratch in
                        AVX512Gemm.multiply(
                            precision: p, m: m, n: n, k: columns, alpha: 1, a: left, b: right,
                            beta: beta, c: c, ldc: outputStride, scratch: UnsafeMutableRawPointer(scratch))
                    }
                }
            }
        }
    }

    /// Runs `body` with the dense weight's elements (nil for a stored weight).
    private func withDenseWeight(_ body: (UnsafePointer<Float>?) -> Void) {
        switch storage {
        case .dense(let tensor): tensor.withUnsafeBufferPointer { body($0.baseAddress) }
        case .stored: body(nil)
        }
    }
}
#endif

#if arch(x86_64)
/// A weight as a GEMM operand: its packed copy, or its f32 elements packed by each call.
private enum WeightOperandSource {
    case packed(PackedOperand)
    case dense(UnsafePointer<Float>)

    /// As A (a conv's W), from weight row `firstRow` on.
    func left(firstRow: Int, width: Int, columns: Int) -> LeftOperand {
        switch self {
        case .packed(let p): .packed(p.advanced(bySlivers: firstRow / width))
        case .dense(let w): .strided(Operand(base: w + firstRow * columns, stride: columns, transposed: false))
        }
    }

    /// As B = Wᵀ (a linear layer's weight), from weight row (output column) `firstRow` on.
    func right(firstRow: Int, width: Int, columns: Int) -> RightOperand {
        switch self {
        case .packed(let p): .packed(p.advanced(bySlivers: firstRow / width))
        case .dense(let w): .strided(Operand(base: w + firstRow * columns, stride: columns, transposed: true))
        }
    }
}
#endif
