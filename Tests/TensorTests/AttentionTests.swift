import Foundation
import TestSupport
import SIMDMath
import Testing
@testable import Tensor

@Suite struct AttentionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let batch: Int, lq: Int, lk: Int, heads: Int, d: Int
        var dv: Int? = nil
        var scale: Float = 1
        var testDescription: String { "B\(batch) Lq\(lq) Lk\(lk) \(heads)x\(d)\(dv.map { " dv\($0)" } ?? "") x\(scale)" }
    }

    static let cases: [Case] = [
        Case(batch: 1, lq: 1, lk: 1, heads: 1, d: 1),
        Case(batch: 2, lq: 5, lk: 7, heads: 2, d: 4),                   // Lq != Lk
        Case(batch: 1, lq: 300, lk: 77, heads: 3, d: 8),                // cross-attention, several query blocks
        Case(batch: 1, lq: 200, lk: 1100, heads: 2, d: 8),              // 3 key blocks, last one partial
        Case(batch: 2, lq: 130, lk: 130, heads: 2, d: 40),              // SD head size
        Case(batch: 1, lq: 33, lk: 600, heads: 2, d: 6, dv: 5),         // value width differs
        Case(batch: 1, lq: 40, lk: 1030, heads: 1, d: 16, scale: 6),    // large scores: online max must rescale
    ]

    @Test(arguments: cases)
    func matchesReference(_ c: Case) {
        let dv = c.dv ?? c.d
        let q = pseudoRandomTensor([c.batch, c.lq, c.heads * c.d], seed: 41, scale: c.scale)
        let k = pseudoRandomTensor([c.batch, c.lk, c.heads * c.d], seed: 42, scale: c.scale)
        let v = pseudoRandomTensor([c.batch, c.lk, c.heads * dv], seed: 43)
        let expected = referenceAttention(q, k, v, heads: c.heads)
        let actual = scaledDotProductAttention(q, k, v, heads: c.heads)
        #expect(nmse(actual, expected) <= 1e-6, "\(c.testDescription): \(describeDifference(actual, expected))")
    }

    @Test func headMajorLayoutMatchesSequenceMajorLayout() {
        let (heads, d) = (3, 8)
        let q = pseudoRandomTensor([2, 150, heads * d], seed: 44)
        let k = pseudoRandomTensor([2, 520, heads * d], seed: 45)
        let v = pseudoRandomTensor([2, 520, heads * d], seed: 46)
        let expected = referenceSwapSequenceAndHeads(referenceAttention(q, k, v, heads: heads), heads: heads)
        let actual = scaledDotProductAttention(
            referenceSwapSequenceAndHeads(q, heads: heads), referenceSwapSequenceAndHeads(k, heads: heads),
            referenceSwapSequenceAndHeads(v, heads: heads))
        #expect(actual.shape == [2, heads, 150, d])
        #expect(nmse(actual, expected) <= 1e-6, "\(describeDifference(actual, expected))")
    }

    @Test func explicitScaleIsUsed() {
        let q = pseudoRandomTensor([1, 9, 8], seed: 47)
        let k = pseudoRandomTensor([1, 11, 8], seed: 48)
        let v = pseudoRandomTensor([1, 11, 8], seed: 49)
        let expected = referenceAttention(q, k, v, heads: 2, scale: 0.7)
        let actual = scaledDotProductAttention(q, k, v, heads: 2, scale: 0.7)
        #expect(nmse(actual, expected) <= 1e-6, "\(describeDifference(actual, expected))")
    }

    @Test func vectorExpIsWithinAFewUlps() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            var lanes = SIMD16<Float>()
            for i in 0..<16 { lanes[i] = x + Float(i) * 0.0037 }
            let e = SIMDMath.softmaxExp(lanes)
            for i in 0..<16 {
                let exact = Foundation.exp(Double(lanes[i]))
                worst = max(worst, Float(abs(Double(e[i]) - exact) / exact))
            }
            x += 0.0591
        }
        #expect(worst <= 4 * Float.ulpOfOne, "relative error \(worst)")
        #expect(SIMDMath.softmaxExp(SIMD16(repeating: -.infinity))[0] < 1e-37)
    }

    @Test func resultsAgreeAcrossThreadCounts() {
        let q = pseudoRandomTensor([2, 260, 16], seed: 50)
        let k = pseudoRandomTensor([2, 700, 16], seed: 51)
        let v = pseudoRandomTensor([2, 700, 16], seed: 52)
        let one = withThreads(1) { scaledDotProductAttention(q, k, v, heads: 2) }
        let four = withThreads(4) { scaledDotProductAttention(q, k, v, heads: 2) }
        #expect(nmse(four, one) <= 1e-6, "\(describeDifference(four, one))")
    }
}
