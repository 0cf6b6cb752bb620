import Foundation
import SIMDMath
import TensorKernels
import TensorKernelsAVX2

/// Scaled dot-product attention over projections laid out as the model produces them:
/// q [B, Lq, heads·d], k [B, Lk, heads·d], v [B, Lk, heads·dv] -> [B, Lq, heads·dv].
///
/// softmax(q·kᵀ · scale) · v per head, with `scale` = 1/√d by default and an fp32 softmax.
/// Heads are read with strides, so the [B, L, heads, d] -> [B, heads, L, d] permute (and its
/// inverse on the output) is never materialized.
/// `precision` bf16 rounds q, k, v and the probabilities to bf16 for the two products (AVX-512 BF16
/// machines; f32 elsewhere); the softmax is always f32.
public func scaledDotProductAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, heads: Int, scale: Float? = nil, precision: ComputePrecision = .float32
) -> Tensor {
    precondition(
        q.rank == 3 && k.rank == 3 && v.rank == 3 && heads >= 1,
        "attention: q \(q.shape), k \(k.shape), v \(v.shape), heads \(heads)")
    let (batch, lq, lk) = (q.shape[0], q.shape[1], k.shape[1])
    precondition(
        k.shape[0] == batch && v.shape[0] == batch && v.shape[1] == lk && q.shape[2] == k.shape[2]
            && q.shape[2] % heads == 0 && v.shape[2] % heads == 0,
        "attention: q \(q.shape), k \(k.shape), v \(v.shape), heads \(heads)")
    let (d, dv) = (q.shape[2] / heads, v.shape[2] / heads)
    var out = Tensor(uninitializedShape: [batch, lq, heads * dv])
    FlashAttention.run(
        q, k, v, into: &out, batch: batch, heads: heads, lq: lq, lk: lk, d: d, dv: dv,
        scale: scale ?? 1 / Float(d).squareRoot(), precision: precision,
        // [B, L, heads·d]: a head is a column block of width d.
        strides: { l, width in (batch: l * heads * width, head: width, row: heads * width) })
    return out
}

/// Scaled dot-product attention in PyTorch's layout:
/// q [B, heads, Lq, d], k [B, heads, Lk, d], v [B, heads, Lk, dv] -> [B, heads, Lq, dv].
public func scaledDotProductAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil, precision: ComputePrecision = .float32
) -> Tensor {
    precondition(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention: q \(q.shape), k \(k.shape), v \(v.shape)")
    let (batch, heads, lq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (lk, dv) = (k.shape[2], v.shape[3])
    precondition(
        k.shape[0] == batch && k.shape[1] == heads && k.shape[3] == d && v.shape[0] == batch && v.shape[1] == heads
            && v.shape[2] == lk,
        "attention: q \(q.shape), k \(k.shape), v \(v.shape)")
    var out = Tensor(uninitializedShape: [batch, heads, lq, dv])
    FlashAttention.run(
        q, k, v, into: &out, batch: batch, heads: heads, lq: lq, lk: lk, d: d, dv: dv,
        scale: scale ?? 1 / Float(d).squareRoot(), precision: precision,
        strides: { l, width in (batch: heads * l * width, head: l * width, row: width) })
    return out
}

/// Block sizes of the attention kernel.
public enum AttentionTuning {
    /// Query rows per work item.
    public static let queryBlock = 128
    /// Keys per score block: the [queryBlock, keyBlock] score tile (256 KB) stays in L2.
    public static let keyBlock = 512
}

/// Flash-style attention: each work item takes `queryBlock` query rows of one head and walks
/// the keys in blocks of `keyBlock`, keeping a running row maximum m, running sum l and an
/// unnormalized output O (online softmax). After key block j with scores S:
///   m' = max(m, rowmax S), P = exp(S - m'), l = l·exp(m - m') + rowsum P, O = O·exp(m - m') + P·V
/// and finally out = O / l. Only a [queryBlock, keyBlock] tile of scores exists at any time,
/// never the [Lq, Lk] matrix (4096² floats = 64 MB per head at SD's first level).
enum FlashAttention {
    typealias Strides = (batch: Int, head: Int, row: Int)

    static func run(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, into out: inout Tensor,
        batch: Int, heads: Int, lq: Int, lk: Int, d: Int, dv: Int, scale: Float, precision: ComputePrecision,
        strides: (_ length: Int, _ width: Int) -> Strides
    ) {
        let qs = strides(lq, d), ks = strides(lk, d), vs = strides(lk, dv), os = strides(lq, dv)
        let bq = AttentionTuning.queryBlock, bk = min(AttentionTuning.keyBlock, max(lk, 1))
        let queryBlocks = (lq + bq - 1) / bq
        q.withUnsafeBufferPointer { pq in
            k.withUnsafeBufferPointer { pk in
                v.withUnsafeBufferPointer { pv in
                    out.withUnsafeMutableBufferPointer { po in
                        guard let qBase = pq.baseAddress, let kBase = pk.baseAddress, let vBase = pv.baseAddress,
                            let oBase = po.baseAddress, lq > 0, dv > 0
                        else { return }
                        if lk == 0 {
                            // softmax over no keys: define the output as 0 rather than 0/0.
                            oBase.initialize(repeating: 0, count: po.count)
                            return
                        }
                        #if arch(x86_64)
                        if CPUKernels.active >= .avx512f {
                            runPacked(
                                q: qBase, qs, k: kBase, ks, v: vBase, vs, out: oBase, os, batch: batch, heads: heads,
                                lq: lq, lk: lk, d: d, dv: dv, scale: scale, precision: precision)
                            return
                        }
                        #endif
                        Parallel.forEach(batch * heads * queryBlocks) { items in
                            // One scratch per worker: scores, output accumulator, m and l.
                            ScratchBuffers.withBuffer(count: bq * bk + bq * dv + 2 * bq) { scratch in
                                for item in items {
                                    let block = item % queryBlocks, bh = item / queryBlocks
                                    let (b, h) = (bh / heads, bh % heads)
                                    let row0 = block * bq, rows = min(bq, lq - row0)
                                    processBlock(
                                        q: qBase + b * qs.batch + h * qs.head + row0 * qs.row, qRow: qs.row,
                                        k: kBase + b * ks.batch + h * ks.head, kRow: ks.row,
                                        v: vBase + b * vs.batch + h * vs.head, vRow: vs.row,
                                        out: oBase + b * os.batch + h * os.head + row0 * os.row, outRow: os.row,
                                        rows: rows, lk: lk, d: d, dv: dv, keyBlock: bk, scale: scale,
                                        scratch: scratch, queryBlock: bq)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #if arch(x86_64)
    /// The AVX-512 path (`AVX512Attention`): whole heads per worker when there are enough heads,
    /// else each head's queries split across workers (each packing that head's K and V).
    private static func runPacked(
        q: UnsafePointer<Float>, _ qs: Strides, k: UnsafePointer<Float>, _ ks: Strides, v: UnsafePointer<Float>,
        _ vs: Strides, out: UnsafeMutablePointer<Float>, _ os: Strides, batch: Int, heads: Int, lq: Int, lk: Int,
        d: Int, dv: Int, scale: Float, precision: ComputePrecision
    ) {
        let p = AVX512Gemm.Precision(precision)
        let pairs = batch * heads
        let work = pairs.multipliedReportingOverflow(by: lq * lk * (d + dv))
        let threads = (work.overflow || work.partialValue >= Gemm.parallelThreshold) ? Parallel.threadCount : 1
        let chunksPerHead = pairs >= threads ? 1 : min((threads + pairs - 1) / pairs, max(1, lq / 64))
        let bytes = AVX512Attention.scratchBytes(lk: lk, d: d, dv: dv, precision: p)
        Parallel.forEach(pairs * chunksPerHead) { items in
            ScratchBuffers.withBuffer(count: (bytes + 3) / 4) { scratch in
                for item in items {
                    let pair = item / chunksPerHead, chunk = item % chunksPerHead
                    let (b, h) = (pair / heads, pair % heads)
                    let lo = lq * chunk / chunksPerHead, hi = lq * (chunk + 1) / chunksPerHead
                    AVX512Attention.run(
                        q: q + b * qs.batch + h * qs.head + lo * qs.row, qRow: qs.row,
                        k: k + b * ks.batch + h * ks.head, kRow: ks.row, v: v + b * vs.batch + h * vs.head, vRow: vs.row,
                        out: out + b * os.batch + h * os.head + lo * os.row, outRow: os.row, queries: 0..<(hi - lo),
                        lk: lk, d: d, dv: dv, scale: scale, precision: p, scratch: UnsafeMutableRawPointer(scratch))
                }
            }
        }
    }
    #endif

    private static func processBlock(
        q: UnsafePointer<Float>, qRow: Int, k: UnsafePointer<Float>, kRow: Int, v: UnsafePointer<Float>, vRow: Int,
        out: UnsafeMutablePointer<Float>, outRow: Int, rows: Int, lk: Int, d: Int, dv: Int, keyBlock: Int,
        scale: Float, scratch: UnsafeMutablePointer<Float>, queryBlock: Int
    ) {
        let level = CPUKernels.active
        let scores = scratch  // [rows, n] for the current key block
        let acc = scratch + queryBlock * keyBlock  // [rows, dv] unnormalized output O
        let runningMax = acc + queryBlock * dv
        let runningSum = runningMax + queryBlock
        runningMax.initialize(repeating: -.infinity, count: rows)
        runningSum.initialize(repeating: 0, count: rows)

        for key0 in stride(from: 0, to: lk, by: keyBlock) {
            let n = min(keyBlock, lk - key0)
            // S = scale · Q Kᵀ for this key block: [rows, d] × [n, d]ᵀ, read straight from the strided heads.
            Gemm.sgemm(
                transB: true, m: rows, n: n, k: d, alpha: scale, a: q, lda: qRow, b: k + key0 * kRow, ldb: kRow,
                beta: 0, c: scores, ldc: n)
            // P = exp(S - m'), with the running max, sum and O updated (stale O of the first
            // block is irrelevant: beta = 0 below).
            #if arch(x86_64)
            if level >= .avx2 {
                AVX2Attention.onlineSoftmaxRows(
                    scores, rows: rows, n: n, runningMax: runningMax, runningSum: runningSum, acc: acc, dv: dv,
                    firstBlock: key0 == 0)
            } else {
                SIMDMath.onlineSoftmaxRows(
                    scores, rows: rows, n: n, runningMax: runningMax, runningSum: runningSum, acc: acc, dv: dv,
                    firstBlock: key0 == 0)
            }
            #else
            SIMDMath.onlineSoftmaxRows(
                scores, rows: rows, n: n, runningMax: runningMax, runningSum: runningSum, acc: acc, dv: dv,
                firstBlock: key0 == 0)
            #endif
            // O += P V: [rows, n] × [n, dv]; the first block overwrites, so O needs no zeroing.
            Gemm.sgemm(
                m: rows, n: dv, k: n, a: scores, lda: n, b: v + key0 * vRow, ldb: vRow,
                beta: key0 == 0 ? 0 : 1, c: acc, ldc: dv)
        }
        for i in 0..<rows {
            let inverse = 1 / runningSum[i]
            let o = acc + i * dv, dst = out + i * outRow
            for j in 0..<dv { dst[j] = o[j] * inverse }
        }
    }
}
