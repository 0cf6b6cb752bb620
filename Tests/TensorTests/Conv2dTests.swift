import TestSupport
import Testing
@testable import Tensor

@Suite struct Conv2dTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var batch = 1
        let cin: Int, h: Int, w: Int, cout: Int
        var kh = 3
        var kw = 3
        var stride = 1
        var padding = Padding2d(0)
        var bias = true
        var testDescription: String {
            "\(batch)x\(cin)x\(h)x\(w) -> \(cout), \(kh)x\(kw) s\(stride) \(padding)\(bias ? "" : " no bias")"
        }
    }

    static let cases: [Case] = [
        Case(cin: 3, h: 8, w: 8, cout: 4, padding: Padding2d(1)),                       // kernel 3, pad 1
        Case(batch: 2, cin: 5, h: 7, w: 9, cout: 6, stride: 2, padding: Padding2d(1)),  // stride 2, odd, non-square
        Case(batch: 2, cin: 8, h: 6, w: 5, cout: 7, kh: 1, kw: 1),                      // 1x1: plain GEMM
        Case(cin: 4, h: 9, w: 9, cout: 3, kh: 1, kw: 1, stride: 2, bias: false),        // 1x1 strided
        Case(cin: 2, h: 5, w: 6, cout: 3, kh: 4, kw: 3),                                // non-square kernel, no pad
        Case(cin: 3, h: 8, w: 8, cout: 2, stride: 2, padding: Padding2d(top: 0, bottom: 1, left: 0, right: 1)),
        Case(cin: 2, h: 2, w: 2, cout: 3, padding: Padding2d(2), bias: false),          // taps fully outside
        Case(cin: 64, h: 64, w: 64, cout: 8, padding: Padding2d(1)),                     // several im2col bands
        Case(cin: 4, h: 1, w: 37, cout: 5, kh: 1, kw: 3, stride: 3, padding: Padding2d(top: 0, bottom: 0, left: 2, right: 1)),
    ]

    @Test(arguments: cases)
    func matchesReference(_ c: Case) {
        let x = pseudoRandomTensor([c.batch, c.cin, c.h, c.w], seed: 21)
        let w = pseudoRandomTensor([c.cout, c.cin, c.kh, c.kw], seed: 22, scale: 0.5)
        let bias = c.bias ? pseudoRandomTensor([c.cout], seed: 23) : nil
        let expected = referenceConv2d(
            x, w, bias: bias, strideY: c.stride, strideX: c.stride, top: c.padding.top, bottom: c.padding.bottom,
            left: c.padding.left, right: c.padding.right)
        let actual = conv2d(x, weight: WeightMatrix(w), bias: bias, strideY: c.stride, strideX: c.stride, padding: c.padding)
        #expect(nmse(actual, expected) <= 1e-6, "\(c.testDescription): \(describeDifference(actual, expected))")
    }

    @Test func convenienceOverloadMatchesGeneralForm() {
        let x = pseudoRandomTensor([1, 3, 6, 7], seed: 24)
        let w = pseudoRandomTensor([4, 3, 3, 3], seed: 25)
        let a = conv2d(x, weight: w, stride: 2, padding: 1)
        let b = conv2d(x, weight: WeightMatrix(w), strideY: 2, strideX: 2, padding: Padding2d(1))
        #expect(a.shape == [1, 4, 3, 4])
        #expect(a.scalars == b.scalars)
    }

    @Test(arguments: [DType.f16, .bf16])
    func encodedWeightsMatchDecodedReference(dtype: DType) throws {
        let x = pseudoRandomTensor([2, 16, 10, 9], seed: 26)
        let (stored, decoded) = try encodedWeight(pseudoRandomTensor([12, 16, 3, 3], seed: 27, scale: 0.3), as: dtype)
        let bias = pseudoRandomTensor([12], seed: 28)
        let expected = referenceConv2d(x, decoded, bias: bias, strideY: 1, strideX: 1, top: 1, bottom: 1, left: 1, right: 1)
        let pointwise = try encodedWeight(pseudoRandomTensor([6, 16, 1, 1], seed: 29), as: dtype)
        let expected1x1 = referenceConv2d(x, pointwise.1, bias: nil, strideY: 1, strideX: 1, top: 0, bottom: 0, left: 0, right: 0)
        // f32 arithmetic checks the decoding; bf16 arithmetic (the default) rounds the operands,
        // which costs about 2e-6 NMSE on these sums (see AVX512GemmTests for its exact check).
        for (precision, tolerance) in [(ComputePrecision.float32, 1e-6), (.bfloat16, 3e-5)] {
            try WeightMatrix.withEncodedWeightPrecision(precision) {
                let actual = conv2d(x, weight: try WeightMatrix(stored), bias: bias, padding: 1)
                #expect(nmse(actual, expected) <= tolerance, "\(dtype) \(precision): \(describeDifference(actual, expected))")
                let actual1x1 = conv2d(x, weight: try WeightMatrix(pointwise.0))
                #expect(
                    nmse(actual1x1, expected1x1) <= tolerance,
                    "\(dtype) \(precision) 1x1: \(describeDifference(actual1x1, expected1x1))")
            }
        }
    }

    @Test func resultsAgreeAcrossThreadCounts() throws {
        let x = pseudoRandomTensor([2, 32, 20, 18], seed: 30)
        let w = pseudoRandomTensor([24, 32, 3, 3], seed: 31)
        let (stored, _) = try encodedWeight(w, as: .bf16)
        let encoded = try WeightMatrix(stored)
        let bias = pseudoRandomTensor([24], seed: 32)
        let (d1, e1) = withThreads(1) {
            (conv2d(x, weight: w, bias: bias, padding: 1), conv2d(x, weight: encoded, bias: bias, stride: 2, padding: 1))
        }
        let (d4, e4) = withThreads(4) {
            (conv2d(x, weight: w, bias: bias, padding: 1), conv2d(x, weight: encoded, bias: bias, stride: 2, padding: 1))
        }
        #expect(nmse(d4, d1) <= 1e-6, "\(describeDifference(d4, d1))")
        #expect(nmse(e4, e1) <= 1e-6, "\(describeDifference(e4, e1))")
    }
}
