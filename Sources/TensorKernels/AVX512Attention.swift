#if arch(x86_64)
import SIMDMath

/// Flash attention for one head on the AVX-512 GEMM, computed transposed so every operand is
/// packed once and the softmax runs across 16 queries per vector:
///
///   Sᵀ = scale · K·Qᵀ   [keys, queries]   (A = K packed once per head, B = a query block packed once)
///   online softmax down each column (running max m and sum l per query)
///   Oᵀ = Oᵀ·diag(correction) + Vᵀ·Pᵀ   [dv, queries]   (A = Vᵀ packed once per head, B = Pᵀ in place)
///
/// and finally out[q, i] = Oᵀ[i, q] / l[q]. Only a [keyBlock, queryBlock] tile of scores exists.
package enum AVX512Attention {
    /// Queries per block (a multiple of 16 and of the GEMM's 64-column slivers).
    static let queryBlock = 128
    /// Keys per block: a multiple of the 6-row slivers of packed K and of both K blocks (128, 256)
    /// of packed Vᵀ, so block starts are views into the packed operands. Sᵀ is 384 KB, in L2.
    static let keyBlock = 768

    /// Bytes of scratch `run` needs (64-byte aligned).
    package static func scratchBytes(lk: Int, d: Int, dv: Int, precision: AVX512Gemm.Precision) -> Int {
        layout(lk: lk, d: d, dv: dv, precision: precision).total
    }

    private struct Layout {
        var packedK = 0, packedV = 0, packedQ = 0, scores = 0, accumulator = 0, statistics = 0, gemm = 0, total = 0
    }

    private static func layout(lk: Int, d: Int, dv: Int, precision: AVX512Gemm.Precision) -> Layout {
        var l = Layout()
        var offset = 0
        func take(_ bytes: Int) -> Int {
            defer { offset += AVX512Gemm.roundUp(bytes, 64) }
            return offset
        }
        l.packedK = take(PackedOperand.byteCount(precision: precision, outer: lk, k: d, width: AVX512Gemm.mr))
        l.packedV = take(PackedOperand.byteCount(precision: precision, outer: dv, k: lk, width: AVX512Gemm.mr))
        l.packedQ = take(PackedOperand.byteCount(precision: precision, outer: queryBlock, k: d, width: AVX512Gemm.nr))
        l.scores = take(keyBlock * queryBlock * 4)
        l.accumulator = take(dv * queryBlock * 4)
        l.statistics = take(3 * queryBlock * 4)
        l.gemm = take(
            max(
                AVX512Gemm.scratchBytes(precision: precision, m: keyBlock, n: queryBlock, k: d),
                AVX512Gemm.scratchBytes(precision: precision, m: dv, n: queryBlock, k: keyBlock)))
        l.total = offset
        return l
    }

    /// Attention of the queries `queries` of one head: q[i] at q + i·qRow (d wide), keys and
    /// values at k + j·kRow, v + j·vRow (lk of them), output rows at out + i·outRow (dv wide).
    package static func run(
        q: UnsafePointer<Float>, qRow: Int, k: UnsafePointer<Float>, kRow: Int, v: UnsafePointer<Float>, vRow: Int,
        out: UnsafeMutablePointer<Float>, outRow: Int, queries: Range<Int>, lk: Int, d: Int, dv: Int, scale: Float,
        precision: AVX512Gemm.Precision, scratch: UnsafeMutableRawPointer
    ) {
        guard !queries.isEmpty, lk > 0, dv > 0 else { return }
        let l = layout(lk: lk, d: d, dv: dv, precision: precision)
        let bq = queryBlock
        let packedK = PackedOperand(base: scratch + l.packedK, precision: precision, outer: lk, k: d, width: AVX512Gemm.mr)
        packedK.pack(Operand(base: k, stride: kRow, transposed: false), into: scratch + l.packedK)
        let packedV = PackedOperand(base: scratch + l.packedV, precision: precision, outer: dv, k: lk, width: AVX512Gemm.mr)
        packedV.pack(Operand(base: v, stride: vRow, transposed: true), into: scratch + l.packedV)
        let scores = (scratch + l.scores).assumingMemoryBound(to: Float.self)
        let acc = (scratch + l.accumulator).assumingMemoryBound(to: Float.self)
        let runningMax = (scratch + l.statistics).assumingMemoryBound(to: Float.self)
        let runningSum = runningMax + bq, correction = runningSum + bq
        let gemmScratch = scratch + l.gemm
        // Columns past a short last block are computed on stale (finite) scores and never used.
        scores.initialize(repeating: 0, count: keyBlock * bq)

        for q0 in stride(from: queries.lowerBound, to: queries.upperBound, by: bq) {
            let rows = min(bq, queries.upperBound - q0)
            let lanes = AVX512Gemm.roundUp(rows, 16)
            let packedQ = PackedOperand(base: scratch + l.packedQ, precision: precision, outer: rows, k: d, width: AVX512Gemm.nr)
            packedQ.pack(Operand(base: q + q0 * qRow, stride: qRow, transposed: true), into: scratch + l.packedQ)
            runningMax.initialize(repeating: -.infinity, count: bq)
            runningSum.initialize(repeating: 0, count: bq)

            for key0 in stride(from: 0, to: lk, by: keyBlock) {
                let n = min(keyBlock, lk - key0)
                AVX512Gemm.multiply(
                    precision: precision, m: n, n: rows, k: d, alpha: scale,
                    a: .packed(packedK.advanced(bySlivers: key0 / AVX512Gemm.mr)), b: .packed(packedQ),
                    beta: 0, c: scores, ldc: bq, scratch: gemmScratch)
                softmaxColumns(scores, keys: n, lanes: lanes, stride: bq, max: runningMax, sum: runningSum, correction: correction)
                if key0 > 0 {
                    for i in 0..<dv { scaleRow(acc + i * bq, by: correction, lanes: lanes) }
                }
                AVX512Gemm.multiply(
                    precision: precision, m: dv, n: rows, k: n, alpha: 1,
                    a: .packed(packedV.advanced(byK: key0)),
                    b: .strided(Operand(base: scores, stride: bq, transposed: false)),
                    beta: key0 == 0 ? 0 : 1, c: acc, ldc: bq, scratch: gemmScratch)
            }
            for j in 0..<rows {
                let inverse = 1 / runningSum[j]
                let dst = out + (q0 - queries.lowerBound + j) * outRow
                for i in 0..<dv { dst[i] = acc[i * bq + j] * inverse }
            }
        }
    }

    /// One key block of the online softmax, 16 queries per vector: new max per column, scores
    /// replaced by exp(s − max), running sums rescaled; `correction` receives exp(old − new max).
    @inline(__always)
    private static func softmaxColumns(
        _ s: UnsafeMutablePointer<Float>, keys: Int, lanes: Int, stride: Int,
        max runningMax: UnsafeMutablePointer<Float>, sum runningSum: UnsafeMutablePointer<Float>,
        correction: UnsafeMutablePointer<Float>
    ) {
        typealias V = SIMD16<Float>
        for j in Swift.stride(from: 0, to: lanes, by: 16) {
            var blockMax = V(repeating: -.infinity)
            for key in 0..<keys { let x = load(s + key * stride + j)
                blockMax.replace(with: x, where: x .> blockMax) }
            let previous = load(runningMax + j)
            let newMax = previous.replacing(with: blockMax, where: blockMax .> previous)
            var sum = V()
            for key in 0..<keys {
                let e = SIMDMath.softmaxExp(load(s + key * stride + j) - newMax)
                store(e, s + key * stride + j)
                sum += e
            }
            // exp(−∞ − m) = 0 on the first block, so stale sums and accumulators drop out.
            let c = SIMDMath.softmaxExp(previous - newMax)
            store(c, correction + j)
            store(load(runningSum + j) * c + sum, runningSum + j)
            store(newMax, runningMax + j)
        }
    }

    @inline(__always)
    private static func scaleRow(_ row: UnsafeMutablePointer<Float>, by factors: UnsafePointer<Float>, lanes: Int) {
        for j in Swift.stride(from: 0, to: lanes, by: 16) { store(load(row + j) * load(factors + j), row + j) }
    }

    @inline(__always) private static func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always) private static func load(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> { load(UnsafePointer(p)) }

    @inline(__always) private static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }
}
#endif
