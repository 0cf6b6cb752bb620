import TestSupport
import Testing
@testable import Tensor

@Suite struct NormalizationTests {
    @Test(arguments: [false, true])
    func groupNormWith32GroupsMatchesReference(applyingSiLU: Bool) {
        let x = pseudoRandomTensor([2, 64, 9, 7], seed: 30, scale: 3).affine(scale: 1, shift: 0.5)
        let w = pseudoRandomTensor([64], seed: 31), b = pseudoRandomTensor([64], seed: 32)
        let actual = x.groupNorm(groups: 32, weight: w, bias: b, epsilon: 1e-5, applyingSiLU: applyingSiLU)
        let expected = Reference.groupNorm(x, groups: 32, weight: w, bias: b, epsilon: 1e-5, silu: applyingSiLU)
        #expect(expectNMSE(actual, expected, "groupNorm 32 silu=\(applyingSiLU)"), "\(describeDifference(actual, expected))")
    }

    @Test func groupNormFusedSiLUEqualsSeparateSiLU() {
        let x = pseudoRandomTensor([1, 64, 5, 13], seed: 33)
        let w = pseudoRandomTensor([64], seed: 34), b = pseudoRandomTensor([64], seed: 35)
        let fused = x.groupNorm(groups: 32, weight: w, bias: b, epsilon: 1e-6, applyingSiLU: true)
        let separate = x.groupNorm(groups: 32, weight: w, bias: b, epsilon: 1e-6).silu()
        #expect(fused.scalars == separate.scalars)
    }

    @Test func groupNormWithoutAffineAndOtherRanks() {
        let x = pseudoRandomTensor([3, 6, 11], seed: 36, scale: 2)
        let actual = x.groupNorm(groups: 3, weight: nil, bias: nil, epsilon: 1e-6)
        let expected = Reference.groupNorm(x, groups: 3, weight: nil, bias: nil, epsilon: 1e-6, silu: false)
        #expect(expectNMSE(actual, expected, "groupNorm no affine"))
    }

    @Test func groupNormStaysAccurateOnLargeGroupsWithOffset() {
        // 256K elements per group with mean 100 and spread 1: the one-pass E[x²]−E[x]² in Float
        // would lose every significant digit of the variance here.
        let x = pseudoRandomTensor([1, 4, 512, 512], seed: 37).affine(scale: 1, shift: 100)
        let actual = x.groupNorm(groups: 2, weight: nil, bias: nil, epsilon: 1e-6)
        let expected = Reference.groupNorm(x, groups: 2, weight: nil, bias: nil, epsilon: 1e-6, silu: false)
        #expect(expectNMSE(actual, expected, "groupNorm large offset"))
    }

    @Test(arguments: [[4, 37], [2, 3, 320], [5, 1]])
    func layerNormMatchesReference(_ shape: [Int]) {
        let x = pseudoRandomTensor(shape, seed: 38, scale: 3).affine(scale: 1, shift: -2)
        let d = shape.last!
        let w = pseudoRandomTensor([d], seed: 39), b = pseudoRandomTensor([d], seed: 40)
        let actual = x.layerNorm(weight: w, bias: b, epsilon: 1e-5)
        #expect(expectNMSE(actual, Reference.layerNorm(x, weight: w, bias: b, epsilon: 1e-5), "layerNorm \(shape)"))
        let plain = x.layerNorm(weight: nil, bias: nil, epsilon: 1e-5)
        #expect(expectNMSE(plain, Reference.layerNorm(x, weight: nil, bias: nil, epsilon: 1e-5), "layerNorm plain \(shape)"))
    }

    @Test func normsAreIdenticalAcrossThreadCounts() {
        let x = pseudoRandomTensor([2, 64, 40, 41], seed: 41)
        let w = pseudoRandomTensor([64], seed: 42), b = pseudoRandomTensor([64], seed: 43)
        let rows = pseudoRandomTensor([300, 320], seed: 44)
        let lw = pseudoRandomTensor([320], seed: 45)
        let r = ThreadCounts.compare {
            [
                x.groupNorm(groups: 32, weight: w, bias: b, epsilon: 1e-5, applyingSiLU: true),
                rows.layerNorm(weight: lw, bias: nil, epsilon: 1e-5),
            ].map(\.scalars)
        }
        #expect(r.0 == r.1)
    }
}

@Suite struct SoftmaxTests {
    @Test(arguments: [[3, 7], [2, 4, 33], [5, 64], [1, 1]])
    func softmaxMatchesReference(_ shape: [Int]) {
        let x = pseudoRandomTensor(shape, seed: 50, scale: 6)
        #expect(expectNMSE(x.softmax(), Reference.softmax(x), "softmax \(shape)"))
    }

    @Test func softmaxIsStableForLargeValues() {
        // Rows around ±1000: exp would overflow without the max shift.
        var values = pseudoRandom(4 * 37, seed: 51, scale: 5)
        for i in 0..<values.count { values[i] += i < 2 * 37 ? 1000 : -1000 }
        let x = Tensor(shape: [4, 37], values: values)
        let y = x.softmax()
        #expect(y.scalars.allSatisfy { $0.isFinite })
        #expect(expectNMSE(y, Reference.softmax(x), "softmax ±1000"))
        for r in 0..<4 {
            let s = (0..<37).reduce(0.0) { $0 + Double(y[r, $1]) }
            #expect(abs(s - 1) <= 1e-6)
        }
    }

    @Test func softmaxOfFullyMaskedRowIsZeroAndInPlaceMatches() {
        var x = Tensor(shape: [2, 5], values: [1, 2, 3, 4, 5] + Array(repeating: -.infinity, count: 5))
        let y = x.softmax()
        #expect(y.scalars[5...].allSatisfy { $0 == 0 })
        x.formSoftmax()
        #expect(x.scalars == y.scalars)
    }

    @Test func softmaxIsIdenticalAcrossThreadCounts() {
        let x = pseudoRandomTensor([64, 333], seed: 52, scale: 10)
        let r = ThreadCounts.compare { x.softmax().scalars }
        #expect(r.0 == r.1)
    }
}
