import Foundation

/// A layer weight used as a GEMM operand: either a Float32 tensor or a tensor still encoded in
/// its weight file (f16, bf16, or GGUF quant blocks), viewed as a [rows, columns] matrix whose rows
/// are the output features (linear [out, in]; conv [Cout, Cin·kH·kW]).
///
/// With the AVX-512 kernels (`CPUKernels`), a weight stored in a file is packed once, on first
/// use, into the GEMM's layout (f32, bf16, or int8 for q8_0 linear layers) and its file pages are
/// released, so the model costs its packed size. Otherwise encoded weights are never expanded as
/// a whole: `multiply` decodes a tile of rows at a time into a pooled scratch buffer of about
/// `decodeTileFloats` Floats and runs sgemm on the tile, so a model in f16 or q8_0 costs its file
/// size in memory plus 16 MB per worker; an f32 weight is multiplied where it lies in its file.
public struct WeightMatrix: Sendable {
    /// Where the elements live.
    public enum Storage: Sendable {
        /// Float32 elements in memory, used in place.
        case dense(Tensor)
        /// Encoded elements in a mapped file, decoded per tile.
        case stored(StoredTensor)
    }

    /// The elements.
    public let storage: Storage
    /// The weight's own shape (e.g. [Cout, Cin, kH, kW]); the matrix is [shape[0], product of the rest].
    public let shape: [Int]
    /// Packed copies for the AVX-512 kernels, made on first use (shared by copies of this value).
    let packCache = PackedWeightCache()
    /// Output features (the first dimension).
    public let rows: Int
    /// Input features per output (the product of the remaining dimensions).
    public let columns: Int

    /// Floats of one decoded tile (16 MB): enough rows that OpenBLAS packs the activations of a
    /// convolution's GEMM a few times per call rather than a dozen (at 4 MB, a 1280-channel 3x3
    /// had 91-row tiles; Zen 2: f16 2x1280x16x16 107 -> 125 GFLOP/s, VAE 512-channel 107 -> 131).
    public static let decodeTileFloats = 1 << 22

    /// A weight held as Float32.
    public init(_ tensor: Tensor) {
        precondition(tensor.rank >= 1, "WeightMatrix: scalar weight \(tensor.shape)")
        storage = .dense(tensor)
        shape = tensor.shape
        rows = tensor.shape[0]
        columns = tensor.count / max(rows, 1)
    }

    /// A weight left in its file encoding and decoded tile by tile when used.
    /// - Throws: `WeightError.unsupportedDType` for non-numeric tensors.
    public init(_ stored: StoredTensor) throws {
        guard stored.dtype.isNumeric else {
            throw WeightError.unsupportedDType(file: stored.file.path, tensor: stored.name, dtype: stored.dtype.rawValue)
        }
        precondition(stored.shape.count >= 1, "WeightMatrix: scalar weight '\(stored.name)' \(stored.shape)")
        storage = .stored(stored)
        shape = stored.shape
        rows = stored.shape[0]
        columns = stored.count / max(rows, 1)
        // Row tiles start at row · columns; quant blocks run along the innermost dimension, which
        // divides `columns`, so every row boundary is a block boundary (readers guarantee it).
        precondition(
            columns % stored.dtype.blockSize == 0,
            "WeightMatrix: '\(stored.name)' \(stored.shape) rows are not whole \(stored.dtype) blocks")
    }

    /// The arithmetic of GEMMs with f16, bf16 and quantized weights (f32 weights always use f32):
    /// bf16 by default, which runs at twice the f32 rate on CPUs with AVX-512 BF16 and gives
    /// the same picture within the accuracy of an f16 checkpoint (see Benchmarks/README.md).
    /// `float32` trades that speed for bit-closer results.
    /// The current task's choice (see `withEncodedWeightPrecision`) or the process-wide one.
    public static var encodedWeightPrecision: ComputePrecision {
        get { taskEncodedPrecision ?? encodedPrecisionLock.withLock { encodedPrecision } }
        set { encodedPrecisionLock.withLock { encodedPrecision = newValue } }
    }
    nonisolated(unsafe) private static var encodedPrecision: ComputePrecision = .bfloat16
    private static let encodedPrecisionLock = NSLock()
    @TaskLocal private static var taskEncodedPrecision: ComputePrecision?

    /// Runs `body` with `precision` for encoded weights in the current task only.
    public static func withEncodedWeightPrecision<R>(_ precision: ComputePrecision, _ body: () throws -> R) rethrows -> R {
        try $taskEncodedPrecision.withValue(precision) { try body() }
    }

    /// Runs the async `body` with `precision` for encoded weights in the current task only.
    public static func withEncodedWeightPrecision<R>(
        _ precision: ComputePrecision, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> R
    ) async rethrows -> R {
        try await $taskEncodedPrecision.withValue(precision, operation: body, isolation: isolation)
    }

    /// The arithmetic this weight's products use.
    public var precision: ComputePrecision {
        dtype == .f32 ? .float32 : WeightMatrix.encodedWeightPrecision
    }

    /// The element type in memory (`f32` for dense weights).
    public var dtype: DType {
        switch storage {
        case .dense: .f32
        case .stored(let s): s.dtype
        }
    }

    /// Row `index` (its `columns` elements) as Float32 into `destination`: copied from a dense
    /// weight, decoded from a stored one (a row is whole quant blocks, see `init`).
    func decodeRow(_ index: Int, into destination: UnsafeMutablePointer<Float>) {
        switch storage {
        case .dense(let tensor):
            tensor.withUnsafeBufferPointer {
                guard let base = $0.baseAddress else { return }
                destination.update(from: base + index * columns, count: columns)
            }
        case .stored(let stored):
            stored.decode(elements: index * columns..<(index + 1) * columns, into: destination)
        }
    }

    /// Every element as Float32 (for tests and for layers that need the values themselves).
    /// - Throws: `WeightError.unsupportedDType` as `StoredTensor.toTensor`.
    public func toTensor() throws -> Tensor {
        switch storage {
        case .dense(let t): t
        case .stored(let s): try s.toTensor()
        }
    }
}

/// How the activation matrix of `WeightMatrix.multiply` is laid out.
enum WeightProductLayout {
    /// out[rows, count] = W · act, act [columns, count] (conv: act is the im2col band).
    case weightTimesActivationColumns
    /// out[count, rows] = act · Wᵀ, act [count, columns] (linear: act is x).
    case activationRowsTimesTransposedWeight
}

extension WeightMatrix {
    /// The product of the weight with an activation matrix, split across workers into
    /// (row tile of W) × (chunk of the activation's `count` dimension) items.
    ///
    /// `activationStride` is the distance between consecutive activation rows, `outputStride`
    /// between output rows; `beta` = 1 accumulates onto `output` (bias pre-filled), 0 overwrites.
    /// Encoded weights decode their row tile once per worker item and reuse it for the whole
    /// activation chunk; dense weights are read in place.
    func multiply(
        _ layout: WeightProductLayout, activations: UnsafePointer<Float>, activationStride: Int, count: Int,
        output: UnsafeMutablePointer<Float>, outputStride: Int, beta: Float
    ) {
        guard rows > 0, count > 0, columns > 0 else { return }
        let precision = self.precision
        #if arch(x86_64)
        if CPUKernels.active >= .avx512f {
            multiplyPacked(
                layout, source: .matrix(activations, stride: activationStride), count: count, output: output,
                outputStride: outputStride, beta: beta, precision: precision)
            return
        }
        if usesAVX2Packed(layout, count: count), case .stored(let stored) = storage {
            multiplyAVX2Packed(
                layout, stored, activations: activations, activationStride: activationStride, count: count,
                output: output, outputStride: outputStride, beta: beta)
            return
        }
        #endif
        let work = rows.multipliedReportingOverflow(by: columns * count)
        let threads = (work.overflow || work.partialValue >= Gemm.parallelThreshold) ? Parallel.threadCount : 1

        // Row tiles: a dense weight only splits for parallelism; an encoded one is also bounded
        // by the decode scratch. Splitting W's rows first means workers read (and decode)
        // disjoint parts of the weight.
        var rowTile = rows
        if case .stored(let stored) = storage, stored.alignedFloat32Elements == nil {
            rowTile = max(1, min(rows, WeightMatrix.decodeTileFloats / columns))
        }
        if (rows + rowTile - 1) / rowTile < threads { rowTile = min(rowTile, max(16, (rows + threads - 1) / threads)) }
        let rowTiles = (rows + rowTile - 1) / rowTile
        // Few row tiles (e.g. a 4-channel output conv): split the activation dimension too.
        let countChunks = max(1, min((threads + rowTiles - 1) / rowTiles, count / 32))
        let items = rowTiles * countChunks

        // Float32 elements read where they lie, each worker item its own block of the product.
        func multiplyInPlace(_ w: UnsafePointer<Float>) {
            Parallel.forEach(items) { range in
                for item in range {
                    let (r0, r1, c0, c1) = bounds(item, rowTile, countChunks, count)
                    product(
                        layout, weightTile: w + r0 * columns, rowRange: r0..<r1, countRange: c0..<c1,
                        activations, activationStride, output, outputStride, beta, precision)
                }
            }
        }

        switch storage {
        case .dense(let tensor):
            tensor.withUnsafeBufferPointer { pw in
                guard let w = pw.baseAddress else { return }
                multiplyInPlace(w)
            }
        case .stored(let stored):
            if let w = stored.alignedFloat32Elements {
                // An f32 weight in its file needs no decoding: copying each tile per use cost 11 %
                // of an f32 UNet step on Zen 2 (perf), for nothing.
                withExtendedLifetime(stored) { multiplyInPlace(w) }
                return
            }
            Parallel.forEach(items) { range in
                ScratchBuffers.withBuffer(count: rowTile * columns) { tile in
                    // Items are ordered tile-major, so a worker's consecutive items usually share
                    // a tile: decode only when the tile changes.
                    var decoded = -1
                    for item in range {
                        let (r0, r1, c0, c1) = bounds(item, rowTile, countChunks, count)
                        if item / countChunks != decoded {
                            stored.decode(elements: r0 * columns..<r1 * columns, into: tile)
                            decoded = item / countChunks
                        }
                        product(
                            layout, weightTile: tile, rowRange: r0..<r1, countRange: c0..<c1,
                            activations, activationStride, output, outputStride, beta, precision)
                    }
                }
            }
        }
    }

    @inline(__always)
    private func bounds(_ item: Int, _ rowTile: Int, _ countChunks: Int, _ count: Int) -> (Int, Int, Int, Int) {
        let tile = item / countChunks, chunk = item % countChunks
        let r0 = tile * rowTile, r1 = min(rows, r0 + rowTile)
        return (r0, r1, count * chunk / countChunks, count * (chunk + 1) / countChunks)
    }

    /// One sgemm: the rows `rowRange` of W (starting at `weightTile`) against the activation
    /// chunk `countRange`.
    @inline(__always)
    private func product(
        _ layout: WeightProductLayout, weightTile: UnsafePointer<Float>, rowRange: Range<Int>, countRange: Range<Int>,
        _ activations: UnsafePointer<Float>, _ activationStride: Int,
        _ output: UnsafeMutablePointer<Float>, _ outputStride: Int, _ beta: Float, _ precision: ComputePrecision
    ) {
        switch layout {
        case .weightTimesActivationColumns:
            // out[r0..<r1, c0..<c1] = Wtile [rows, K] · act[K, c0..<c1]
            Gemm.sgemm(
                m: rowRange.count, n: countRange.count, k: columns, a: weightTile, lda: columns,
                b: activations + countRange.lowerBound, ldb: activationStride, beta: beta,
                c: output + rowRange.lowerBound * outputStride + countRange.lowerBound, ldc: outputStride,
                precision: precision)
        case .activationRowsTimesTransposedWeight:
            // out[c0..<c1, r0..<r1] = act[c0..<c1, K] · Wtileᵀ
            Gemm.sgemm(
                transB: true, m: countRange.count, n: rowRange.count, k: columns,
                a: activations + countRange.lowerBound * activationStride, lda: activationStride,
                b: weightTile, ldb: columns, beta: beta,
                c: output + countRange.lowerBound * outputStride + rowRange.lowerBound, ldc: outputStride,
                precision: precision)
        }
    }
}

/// Packed forms of one weight for the AVX-512 kernels (see `WeightMatrix+Packed.swift`), keyed by
/// precision and role.
final class PackedWeightCache: @unchecked Sendable {
    let lock = NSLock()
    var entries: [String: AnyObject] = [:]

    init() { PackedWeights.register(self) }

    /// Whether a packed form for `key` is held.
    func contains(_ key: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return entries[key] != nil
    }

    /// Drops the packed forms; the next use packs the weight again from its file.
    func removeAll() {
        lock.lock()
        entries.removeAll()
        lock.unlock()
    }
}

/// Every weight's packed copies, as a whole: stored weights are packed (and their file pages
/// released) on first use and then stay resident, which suits a server; a one-shot run can give
/// a finished stage's copies back (e.g. the UNet's before the VAE decodes) to lower its peak.
public enum PackedWeights {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var caches: [WeakCache] = []

    private struct WeakCache {
        weak var cache: PackedWeightCache?
    }

    static func register(_ cache: PackedWeightCache) {
        lock.lock()
        if caches.count > 1024 && caches.count.nonzeroBitCount == 1 { caches.removeAll { $0.cache == nil } }
        caches.append(WeakCache(cache: cache))
        lock.unlock()
    }

    /// Frees every packed weight copy in the process; weights still in use pack again from their
    /// files when next multiplied (about a second for an SD 1.5 UNet).
    public static func releaseAll() {
        lock.lock()
        let live = caches.compactMap(\.cache)
        caches.removeAll { $0.cache == nil }
        lock.unlock()
        for cache in live { cache.removeAll() }
    }
}
