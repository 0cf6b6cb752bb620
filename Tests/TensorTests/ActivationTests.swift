import Foundation
import TestSupport
import SIMDMath
import Testing
@testable import Tensor

@Suite struct ActivationTests {
    // Odd sizes so every kernel runs both its 16-wide body and its tail.
    static let shapes: [[Int]] = [[7], [3, 37], [2, 5, 9, 11]]

    @Test(arguments: shapes)
    func activationsMatchDoubleReference(_ shape: [Int]) {
        let x = pseudoRandomTensor(shape, seed: 20, scale: 8)
        #expect(expectElementwise(x.silu(), Reference.map(x, Reference.silu), "silu \(shape)"))
        #expect(expectElementwise(x.gelu(), Reference.map(x, Reference.gelu), "gelu \(shape)"))
        #expect(expectElementwise(x.geluTanh(), Reference.map(x, Reference.geluTanh), "geluTanh \(shape)"))
        #expect(expectElementwise(x.quickGELU(), Reference.map(x, Reference.quickGELU), "quickGELU \(shape)"))
    }

    /// x·Φ(x) keeps its relative accuracy down the negative tail, where 1 + erf(x/√2) would cancel
    /// (down to x = -12, Φ = 2e-33).
    @Test func normalCDFIsRelativelyAccurateInBothTails() {
        var worst = 0.0
        var x: Float = -12
        while x < 12 {
            var lanes = SIMD16<Float>()
            for i in 0..<16 { lanes[i] = x + Float(i) * 0.0071 }
            let phi = SIMDMath.normalCDF(lanes)
            for i in 0..<16 {
                let exact = 0.5 * erfc(-Double(lanes[i]) / 2.0.squareRoot())
                worst = max(worst, abs(Double(phi[i]) - exact) / exact)
            }
            x += 0.113
        }
        #expect(worst <= 1e-6, "relative error \(worst)")
    }

    @Test func activationsHandleExtremeInputs() {
        let values: [Float] = [-1000, -100, -88, -87, -20, -1e-6, 0, 1e-6, 20, 87, 88, 89, 100, 1000, 3e38, -3e38]
        let x = Tensor(shape: [values.count], values: values)
        #expect(expectElementwise(x.silu(), Reference.map(x, Reference.silu), "silu extreme"))
        #expect(expectElementwise(x.gelu(), Reference.map(x, Reference.gelu), "gelu extreme"))
        #expect(expectElementwise(x.quickGELU(), Reference.map(x, Reference.quickGELU), "quickGELU extreme"))
        // geluTanh's cubic overflows Float for |x| ≳ 1e13, as it does in PyTorch; test a sane range.
        let y = Tensor(shape: [12], values: Array(values[0..<12]))
        #expect(expectElementwise(y.geluTanh(), Reference.map(y, Reference.geluTanh), "geluTanh extreme"))
    }

    @Test(arguments: [[2, 3, 10], [5, 34], [1, 2, 4, 2 * 640]])
    func gegluMatchesChunkThenGELU(_ shape: [Int]) {
        let x = pseudoRandomTensor(shape, seed: 21, scale: 4)
        #expect(expectElementwise(x.geglu(), Reference.geglu(x), "geglu \(shape)"))
        // Same as the unfused chunk → gelu → multiply.
        let halves = x.chunked(2, axis: -1)
        #expect(expectElementwise(x.geglu(), halves[0] * halves[1].gelu(), "geglu vs unfused \(shape)"))
    }

    @Test func vectorExpIsAccurateOverTheFloatRange() {
        // Sweep [-87, 88] densely; relative error against Double exp, in ulps of the result.
        var worstUlps = 0.0
        var x: Float = -87.3
        while x < 88.3 {
            var v = SIMD16<Float>()
            for j in 0..<16 { v[j] = x + Float(j) * 0.000_37 }
            let e = VectorMath.exp(v)
            for j in 0..<16 {
                let exact = Foundation.exp(Double(v[j]))
                let ulp = Double(Float(exact).ulp)
                worstUlps = max(worstUlps, abs(Double(e[j]) - exact) / ulp)
            }
            x += 0.0059
        }
        report("vector exp worst ulps", worstUlps)
        #expect(worstUlps <= 2)
        let edge = VectorMath.exp(SIMD16<Float>(-.infinity, -1000, -88, 0, 1, 88.3, 1000, .infinity, 88.7, 0, 0, 0, 0, 0, 0, 0))
        #expect(edge[0] == 0 && edge[1] == 0 && edge[2] == 0 && edge[3] == 1)
        #expect(edge[4] == Float(M_E) || abs(edge[4] - Float(M_E)) <= Float(M_E).ulp)
        #expect(edge[5].isFinite && edge[8].isFinite && edge[8] > 2e38 && edge[6] == .infinity && edge[7] == .infinity)
    }

    @Test func activationsAreIdenticalAcrossThreadCounts() {
        let x = pseudoRandomTensor([3, 77, 131], seed: 22, scale: 6)
        let g = pseudoRandomTensor([3, 77, 2 * 66], seed: 23)
        let r = ThreadCounts.compare { [x.silu(), x.gelu(), x.geluTanh(), x.quickGELU(), g.geglu()].map(\.scalars) }
        #expect(r.0 == r.1)
    }
}
