import CBLAS
import TensorKernels

/// GEMM on f32 matrices, split across `Parallel` workers: our AVX-512 packed kernel (f32 or bf16
/// arithmetic) where `CPUKernels` allows it, else OpenBLAS sgemm pinned to one thread.
///
/// All matrices are row-major. Splitting happens here rather than inside OpenBLAS so that one
/// pool owns the cores (see `Parallel`); every chunk is an ordinary single-threaded GEMM on a
/// sub-block of C, so results do not depend on the thread count except through the kernel's own
/// blocking of the chunk's shape.
enum Gemm {
    /// Below this many multiply-adds a GEMM runs on the calling thread: dispatch would cost more.
    static let parallelThreshold = 1 << 18

    /// C[m, n] = alpha · op(A) · op(B) + beta · C on the calling thread.
    /// With `precision` bf16 the operands are rounded to bf16 as they are packed (AVX-512 BF16
    /// machines only; f32 elsewhere).
    @inline(__always)
    static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, precision: ComputePrecision = .float32
    ) {
        guard m > 0, n > 0 else { return }
        #if arch(x86_64)
        if CPUKernels.active >= .avx512f {
            let p = AVX512Gemm.Precision(precision)
            let bytes = AVX512Gemm.scratchBytes(precision: p, m: m, n: n, k: k)
            ScratchBuffers.withBuffer(count: (bytes + 3) / 4) { scratch in
                AVX512Gemm.multiply(
                    precision: p, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, transA: transA,
                    b: b, ldb: ldb, transB: transB, beta: beta, c: c, ldc: ldc, scratch: UnsafeMutableRawPointer(scratch))
            }
            return
        }
        #endif
        if k == 0 {
            // BLAS leaves C untouched for k = 0 on some builds; the product is empty, so C = beta·C.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        Parallel.prepareBLAS()
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `batch` independent GEMMs C_i = alpha · op(A_i) · op(B_i) + beta · C_i, where operand i
    /// starts `i * stride` elements after the base pointer (stride 0 shares one operand).
    ///
    /// Work items are (matrix, row chunk) or (matrix, column chunk): the larger of m and n is
    /// split so that each worker's chunk keeps a full-width panel of the other operand.
    static func parallelSgemm(
        batch: Int = 1, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, strideA: Int = 0,
        b: UnsafePointer<Float>, ldb: Int, strideB: Int = 0,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int = 0,
        precision: ComputePrecision = .float32
    ) {
        guard batch > 0, m > 0, n > 0 else { return }
        let work = batch.multipliedReportingOverflow(by: m * n * max(k, 1))
        let threads = (work.overflow || work.partialValue >= parallelThreshold) ? Parallel.threadCount : 1
        // Enough chunks per matrix that the batch × chunks grid covers every worker.
        let chunksPerMatrix = max(1, (threads + batch - 1) / batch)
        let splitRows = m >= n
        // Chunks narrower than 16 rows/columns fall below OpenBLAS's register blocking.
        let extent = splitRows ? m : n
        let chunks = max(1, min(chunksPerMatrix, extent / 16))
        Parallel.forEach(batch * chunks) { items in
            for item in items {
                let i = item / chunks, chunk = item % chunks
                let lo = extent * chunk / chunks, hi = extent * (chunk + 1) / chunks
                let aBase = a + i * strideA, bBase = b + i * strideB, cBase = c + i * strideC
                if splitRows {
                    // Rows lo..<hi of op(A): row offset in A when not transposed, column offset otherwise.
                    let aChunk = transA ? aBase + lo : aBase + lo * lda
                    sgemm(
                        transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
                        a: aChunk, lda: lda, b: bBase, ldb: ldb, beta: beta, c: cBase + lo * ldc, ldc: ldc,
                        precision: precision)
                } else {
                    let bChunk = transB ? bBase + lo * ldb : bBase + lo
                    sgemm(
                        transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha,
                        a: aBase, lda: lda, b: bChunk, ldb: ldb, beta: beta, c: cBase + lo, ldc: ldc,
                        precision: precision)
                }
            }
        }
    }
}

/// Matrix product of the last two dimensions, batched over the leading ones.
///
/// `a` is [..., M, K] (or [..., K, M] with `transposeA`), `b` is [..., K, N] (or [..., N, K] with
/// `transposeB`); the result is [..., M, N]. Leading dimensions must match, or one operand may be
/// a plain matrix shared by every batch element. `precision` bf16 rounds the operands to bf16 and
/// sums in f32 where the CPU has AVX-512 BF16 (f32 elsewhere).
public func matmul(
    _ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
    precision: ComputePrecision = .float32
) -> Tensor {
    batchedMatmul(a, b, transposeA: transposeA, transposeB: transposeB, precision: precision)
}

func batchedMatmul(
    _ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool, precision: ComputePrecision = .float32
) -> Tensor {
    precondition(a.rank >= 2 && b.rank >= 2, "matmul: \(a.shape) × \(b.shape) needs rank >= 2")
    let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
    precondition(
        aBatch == bBatch || aBatch.isEmpty || bBatch.isEmpty,
        "matmul: batch dimensions of \(a.shape) × \(b.shape) differ")
    let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let (m, k) = transposeA ? (ac, ar) : (ar, ac)
    let (k2, n) = transposeB ? (bc, br) : (br, bc)
    precondition(
        k == k2, "matmul: \(a.shape)\(transposeA ? "ᵀ" : "") × \(b.shape)\(transposeB ? "ᵀ" : "") inner dimensions differ")
    let batchShape = aBatch.count >= bBatch.count ? aBatch : bBatch
    let batch = Tensor.elementCount(batchShape)
    var c = Tensor(uninitializedShape: batchShape + [m, n])
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                guard let cBase = pc.baseAddress, let aBase = pa.baseAddress, let bBase = pb.baseAddress else { return }
                if k == 0 { cBase.initialize(repeating: 0, count: pc.count); return }
                Gemm.parallelSgemm(
                    batch: batch, transA: transposeA, transB: transposeB, m: m, n: n, k: k,
                    a: aBase, lda: ac, strideA: aBatch.isEmpty ? 0 : ar * ac,
                    b: bBase, ldb: bc, strideB: bBatch.isEmpty ? 0 : br * bc,
                    beta: 0, c: cBase, ldc: n, strideC: m * n, precision: precision)
            }
        }
    }
    return c
}

extension Tensor {
    /// Matrix product of the last two dimensions, batched over the leading ones; see `matmul(_:_:)`.
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false) -> Tensor {
        batchedMatmul(self, other, transposeA: transposeSelf, transposeB: transposeOther)
    }
}

/// Fully connected layer: y = x · Wᵀ + bias, with x [..., in], weight [out, in], bias [out];
/// the result is [..., out].
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    linear(x, weight: WeightMatrix(weight), bias: bias)
}

/// Fully connected layer over a weight that may be stored as f16, bf16 or quantized blocks; the
/// weight is decoded tile by tile while multiplying (see `WeightMatrix`).
public func linear(_ x: Tensor, weight: WeightMatrix, bias: Tensor? = nil) -> Tensor {
    let inFeatures = weight.columns, outFeatures = weight.rows
    precondition(
        x.rank >= 1 && x.shape[x.rank - 1] == inFeatures,
        "linear: input \(x.shape), weight \(weight.shape)")
    if let bias { precondition(bias.count == outFeatures, "linear: bias \(bias.shape), weight \(weight.shape)") }
    let m = x.count / max(inFeatures, 1)
    var y = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [outFeatures])  // [..., in] -> [..., out]
    x.withUnsafeBufferPointer { px in
        y.withUnsafeMutableBufferPointer { py in
            guard let out = py.baseAddress else { return }
            // Bias is written first and accumulated onto (beta = 1), saving a pass over y.
            if let bias {
                bias.withUnsafeBufferPointer { pb in
                    guard let b = pb.baseAddress else { return }
                    for row in 0..<m { (out + row * outFeatures).initialize(from: b, count: outFeatures) }
                }
            } else if inFeatures == 0 {
                out.initialize(repeating: 0, count: py.count)
            }
            guard let input = px.baseAddress, inFeatures > 0 else { return }
            weight.multiply(
                .activationRowsTimesTransposedWeight, activations: input, activationStride: inFeatures, count: m,
                output: out, outputStride: outFeatures, beta: bias == nil ? 0 : 1)
        }
    }
    return y
}

/// y[rowOffset..<rowOffset + m] += x Wᵀ + b, with m the rows of `x` and y viewed as [rows, out]:
/// a residual (or a row block of a larger output) taken as the product's accumulator, so no
/// separate output is allocated and added afterwards.
public func linear(
    _ x: Tensor, weight: WeightMatrix, bias: Tensor? = nil, addingInto y: inout Tensor, rowOffset: Int = 0
) {
    let inFeatures = weight.columns, outFeatures = weight.rows
    precondition(
        x.rank >= 1 && x.shape[x.rank - 1] == inFeatures && y.rank >= 1 && y.shape[y.rank - 1] == outFeatures,
        "linear: input \(x.shape), weight \(weight.shape), output \(y.shape)")
    let m = x.count / max(inFeatures, 1)
    precondition(rowOffset >= 0 && (rowOffset + m) * outFeatures <= y.count, "linear: rows \(rowOffset)+\(m) of \(y.shape)")
    if let bias { precondition(bias.count == outFeatures, "linear: bias \(bias.shape), weight \(weight.shape)") }
    x.withUnsafeBufferPointer { px in
        y.withUnsafeMutableBufferPointer { py in
            guard let base = py.baseAddress else { return }
            let out = base + rowOffset * outFeatures
            if let bias {
                bias.withUnsafeBufferPointer { pb in
                    guard let b = pb.baseAddress else { return }
                    for row in 0..<m {
                        let r = out + row * outFeatures
                        for j in 0..<outFeatures { r[j] += b[j] }
                    }
                }
            }
            guard let input = px.baseAddress, inFeatures > 0 else { return }
            weight.multiply(
                .activationRowsTimesTransposedWeight, activations: input, activationStride: inFeatures, count: m,
                output: out, outputStride: outFeatures, beta: 1)
        }
    }
}
