import Foundation
import TestSupport
import Testing
@testable import Tensor

/// Our packed AVX-512 GEMM (f32 FMA and bf16 `vdpbf16ps`) against Double references, at shapes
/// that cut every blocking edge: micro-tile (6x64, and 12x32 / 24x16 for slivers of at most 32 /
/// 16 columns), K block (128 f32 / 256 bf16, odd K for the bf16 pairs), row block (144) and
/// column panel (4096); all four transpose combinations; alpha and beta.
@Suite(.enabled(if: CPUKernels.detected == .avx512, "needs AVX-512 BF16"))
struct AVX512GemmTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let m: Int, n: Int, k: Int, transA: Bool, transB: Bool
        var testDescription: String { "\(m)x\(n)x\(k)\(transA ? " Aᵀ" : "")\(transB ? " Bᵀ" : "")" }
    }

    static let cases: [Case] = [
        Case(m: 1, n: 1, k: 1, transA: false, transB: false),
        Case(m: 6, n: 64, k: 2, transA: false, transB: false),
        Case(m: 7, n: 65, k: 3, transA: true, transB: false),
        Case(m: 13, n: 130, k: 257, transA: false, transB: true),
        Case(m: 150, n: 70, k: 300, transA: true, transB: true),
        Case(m: 300, n: 129, k: 513, transA: false, transB: false),
        Case(m: 5, n: 4200, k: 7, transA: false, transB: true),
        Case(m: 40, n: 200, k: 40, transA: true, transB: false),
        // B slivers of at most 16 and 32 columns take the 24x16 and 12x32 kernels: whole tiles
        // straight to C, partial rows, groups cut at the end of a row block (144) or of A.
        Case(m: 24, n: 16, k: 5, transA: false, transB: false),
        Case(m: 12, n: 32, k: 9, transA: false, transB: true),
        Case(m: 30, n: 16, k: 130, transA: false, transB: false),
        Case(m: 150, n: 32, k: 257, transA: true, transB: false),
        Case(m: 47, n: 80, k: 129, transA: false, transB: true),
        Case(m: 19, n: 100, k: 64, transA: true, transB: true),
    ]

    /// (i, j) of op(X) for a row-major stored X.
    static func element(_ x: [Float], _ i: Int, _ j: Int, rows: Int, columns: Int, transposed: Bool) -> Float {
        transposed ? x[j * rows + i] : x[i * columns + j]
    }

    /// alpha · op(A)·op(B) + beta · C in Double, on `round`ed operands.
    static func reference(
        _ c: Case, a: [Float], b: [Float], cIn: [Float], alpha: Float, beta: Float, round: (Float) -> Float
    ) -> [Float] {
        var out = [Float](repeating: 0, count: c.m * c.n)
        for i in 0..<c.m {
            for j in 0..<c.n {
                var sum = 0.0
                for p in 0..<c.k {
                    let x = round(element(a, i, p, rows: c.m, columns: c.k, transposed: c.transA))
                    let y = round(element(b, p, j, rows: c.k, columns: c.n, transposed: c.transB))
                    sum += Double(x) * Double(y)
                }
                out[i * c.n + j] = Float(Double(alpha) * sum + Double(beta) * Double(cIn[i * c.n + j]))
            }
        }
        return out
    }

    /// bf16 round to nearest even, as `vcvtne2ps2bf16`.
    static func bfloat16(_ x: Float) -> Float {
        let bits = x.bitPattern
        return Float(bitPattern: ((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16) << 16)
    }

    static func run(_ c: Case, precision: ComputePrecision, alpha: Float, beta: Float, cIn: [Float]) -> [Float]
    {
        let a = pseudoRandomTensor([c.m * c.k], seed: 41).scalars
        let b = pseudoRandomTensor([c.k * c.n], seed: 42).scalars
        var out = cIn
        CPUKernels.withLevel(.avx512) {
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    out.withUnsafeMutableBufferPointer { pc in
                        Gemm.sgemm(
                            transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k, alpha: alpha,
                            a: pa.baseAddress!, lda: c.transA ? c.m : c.k, b: pb.baseAddress!, ldb: c.transB ? c.k : c.n,
                            beta: beta, c: pc.baseAddress!, ldc: c.n, precision: precision)
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: cases)
    func float32MatchesDoubleReference(_ c: Case) {
        let a = pseudoRandomTensor([c.m * c.k], seed: 41).scalars
        let b = pseudoRandomTensor([c.k * c.n], seed: 42).scalars
        let cIn = pseudoRandomTensor([c.m * c.n], seed: 43).scalars
        for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (1, 0.25)] {
            let expected = Self.reference(c, a: a, b: b, cIn: cIn, alpha: alpha, beta: beta) { $0 }
            let actual = Self.run(c, precision: .float32, alpha: alpha, beta: beta, cIn: cIn)
            #expect(nmse(actual, expected) <= 1e-12, "alpha \(alpha) beta \(beta): \(describeDifference(actual, expected))")
        }
    }

    /// The bf16 kernel must equal the exact product of the bf16-rounded operands up to f32
    /// summation error: this checks the rounding (nearest even) and the pair packing, not just
    /// that the result is close.
    @Test(arguments: cases)
    func bfloat16MatchesReferenceOnRoundedOperands(_ c: Case) {
        let a = pseudoRandomTensor([c.m * c.k], seed: 41).scalars
        let b = pseudoRandomTensor([c.k * c.n], seed: 42).scalars
        let cIn = pseudoRandomTensor([c.m * c.n], seed: 43).scalars
        for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1)] {
            let expected = Self.reference(c, a: a, b: b, cIn: cIn, alpha: alpha, beta: beta, round: Self.bfloat16)
            let actual = Self.run(c, precision: .bfloat16, alpha: alpha, beta: beta, cIn: cIn)
            #expect(nmse(actual, expected) <= 1e-12, "alpha \(alpha) beta \(beta): \(describeDifference(actual, expected))")
            if c.k > 1 {
                // And it really rounded: the f32 product differs by about 2^-9 relative.
                let unrounded = Self.reference(c, a: a, b: b, cIn: cIn, alpha: alpha, beta: beta) { $0 }
                #expect(nmse(actual, unrounded) > 1e-8)
            }
        }
    }

    /// The public ops give the same results at both kernel levels (f32).
    @Test func levelsAgreeOnOps() throws {
        let x = pseudoRandomTensor([2, 24, 13, 11], seed: 44)
        let w = pseudoRandomTensor([20, 24, 3, 3], seed: 45)
        // 70 columns: interior 64-pixel runs take the gather's vector fast path.
        let wide = pseudoRandomTensor([1, 5, 6, 70], seed: 50)
        let wideWeight = pseudoRandomTensor([7, 5, 3, 3], seed: 51)
        let q = pseudoRandomTensor([2, 150, 64], seed: 46)
        let k = pseudoRandomTensor([2, 90, 64], seed: 47)
        func all() -> [Tensor] {
            [
                conv2d(x, weight: w, padding: 1), conv2d(wide, weight: wideWeight, padding: 1),
                conv2d(wide, weight: wideWeight, stride: 2, padding: 1), linear(q, weight: k.reshaped(180, 64)),
                matmul(q, k, transposeB: true), scaledDotProductAttention(q, k, k, heads: 4),
            ]
        }
        let generic = CPUKernels.withLevel(.generic) { all() }
        let avx512 = CPUKernels.withLevel(.avx512) { all() }
        for (g, v) in zip(generic, avx512) {
            #expect(nmse(v, g) <= 1e-12, "\(describeDifference(v, g))")
        }
    }

    /// Convolutions of small images (under 256 output pixels) run as one GEMM over the batch,
    /// columns running across images (whole images, runs cut at image ends, a batch of 1 alone):
    /// against the Double reference with the bias, 3x3 and 1x1, stride 1 and 2, f32 and bf16.
    @Test(arguments: [(3, 4, 1, 3), (2, 4, 1, 3), (1, 4, 1, 3), (5, 5, 2, 3), (4, 3, 1, 1), (3, 8, 1, 3), (2, 16, 1, 3)])
    func smallImagesConvolveTogether(shape: (Int, Int, Int, Int)) throws {
        let (batch, size, stride, kernel) = shape
        let x = pseudoRandomTensor([batch, 40, size, size], seed: 64)
        let w = pseudoRandomTensor([30, 40, kernel, kernel], seed: 65, scale: 0.2)
        let bias = pseudoRandomTensor([30], seed: 66)
        let pad = kernel / 2
        let expected = referenceConv2d(
            x, w, bias: bias, strideY: stride, strideX: stride, top: pad, bottom: pad, left: pad, right: pad)
        let actual = CPUKernels.withLevel(.avx512) {
            conv2d(x, weight: WeightMatrix(w), bias: bias, strideY: stride, strideX: stride, padding: Padding2d(pad))
        }
        #expect(nmse(actual, expected) <= 1e-12, "\(describeDifference(actual, expected))")
        let (stored, decoded) = try encodedWeight(w, as: .bf16)
        let roundedX = Tensor(shape: x.shape, values: x.scalars.map(Self.bfloat16))
        let expectedBFloat = referenceConv2d(
            roundedX, decoded, bias: bias, strideY: stride, strideX: stride, top: pad, bottom: pad, left: pad, right: pad)
        let reduced = try WeightMatrix.withEncodedWeightPrecision(.bfloat16) {
            conv2d(x, weight: try WeightMatrix(stored), bias: bias, strideY: stride, strideX: stride, padding: Padding2d(pad))
        }
        #expect(nmse(reduced, expectedBFloat) <= 1e-12, "bf16: \(describeDifference(reduced, expectedBFloat))")
    }

    /// A convolution with f16 weights in bf16 (implicit im2col, staged conversion) stays within
    /// bf16 rounding of the f32 result.
    @Test func bfloat16ConvolutionStaysCloseToFloat32() throws {
        let x = pseudoRandomTensor([2, 40, 9, 70], seed: 52)
        let (stored, _) = try encodedWeight(pseudoRandomTensor([13, 40, 3, 3], seed: 53, scale: 0.2), as: .f16)
        let weight = try WeightMatrix(stored)
        let exact = WeightMatrix.withEncodedWeightPrecision(.float32) { conv2d(x, weight: weight, padding: 1) }
        let reduced = WeightMatrix.withEncodedWeightPrecision(.bfloat16) { conv2d(x, weight: weight, padding: 1) }
        let error = nmse(reduced, exact)
        #expect(error > 1e-8 && error < 3e-5, "\(error)")
    }

    /// Attention over several key blocks (768) and query blocks (128) with short last ones, one
    /// head (queries split across workers) and three heads (whole heads per worker), in f32
    /// against the generic path and in bf16 within rounding of it.
    @Test(arguments: [1, 3])
    func attentionAcrossBlocksMatchesGenericPath(heads: Int) {
        let q = pseudoRandomTensor([1, 300, heads * 24], seed: 54)
        let k = pseudoRandomTensor([1, 1700, heads * 24], seed: 55)
        let v = pseudoRandomTensor([1, 1700, heads * 20], seed: 56)
        let generic = CPUKernels.withLevel(.generic) { scaledDotProductAttention(q, k, v, heads: heads) }
        let packed = CPUKernels.withLevel(.avx512) { scaledDotProductAttention(q, k, v, heads: heads) }
        #expect(nmse(packed, generic) <= 1e-11, "\(describeDifference(packed, generic))")
        let reduced = CPUKernels.withLevel(.avx512) {
            scaledDotProductAttention(q, k, v, heads: heads, precision: .bfloat16)
        }
        let error = nmse(reduced, generic)
        #expect(error > 1e-8 && error < 1e-4, "bf16 attention NMSE \(error)")
    }

    /// q8_0 linear weights with reduced precision take the VNNI int8 path: the result must equal
    /// the exact sums of ggml-style q8_0 activations (per row, per 32-block: d = max|x|/127,
    /// q = round-to-even(x·127/max)) times the q8_0 weights, up to f32 accumulation. Shapes cut
    /// the 3-row and 64-column tiles and the 48-row quantization block; one is split by columns.
    @Test(arguments: [(7, 64, 40), (50, 96, 130), (2, 160, 200)])
    func int8LinearMatchesQuantizedReference(shape: (Int, Int, Int)) throws {
        let (m, inFeatures, outFeatures) = shape
        let x = pseudoRandomTensor([m, inFeatures], seed: 57, scale: 3)
        let (stored, decoded) = try encodedWeight(pseudoRandomTensor([outFeatures, inFeatures], seed: 58), as: .q8_0)
        let weight = try WeightMatrix(stored)
        let actual = WeightMatrix.withEncodedWeightPrecision(.bfloat16) { linear(x, weight: weight) }
        // Reference: quantize x as the kernel does, dequantize, multiply by the decoded weights in Double.
        var quantized = x.scalars
        for row in 0..<m {
            for b in 0..<(inFeatures / 32) {
                let range = (row * inFeatures + b * 32)..<(row * inFeatures + b * 32 + 32)
                let magnitude = quantized[range].map(abs).max() ?? 0
                let scale = magnitude / 127, inverse: Float = magnitude > 0 ? 127 / magnitude : 0
                for i in range { quantized[i] = (quantized[i] * inverse).rounded(.toNearestOrEven) * scale }
            }
        }
        let expected = referenceLinear(
            quantized, decoded.scalars, bias: nil, m: m, inFeatures: inFeatures, outFeatures: outFeatures)
        #expect(nmse(actual.scalars, expected) <= 1e-10, "\(describeDifference(actual.scalars, expected))")
        // And against the unquantized activations: the int8 rounding itself.
        let plain = referenceLinear(x.scalars, decoded.scalars, bias: nil, m: m, inFeatures: inFeatures, outFeatures: outFeatures)
        let error = nmse(actual.scalars, plain)
        #expect(error > 1e-8 && error < 1e-4, "int8 activations: NMSE \(error)")
    }

    /// Released packed weights are packed again, with the same results; a release while
    /// products run (other tests, or a one-shot run) must not free memory still in use.
    @Test func releasedPackedWeightsRepackIdentically() throws {
        let x = pseudoRandomTensor([20, 64], seed: 59)
        let (stored, _) = try encodedWeight(pseudoRandomTensor([70, 64], seed: 60), as: .f16)
        let weight = try WeightMatrix(stored)
        let before = linear(x, weight: weight)
        PackedWeights.releaseAll()
        let after = linear(x, weight: weight)
        #expect(before.scalars == after.scalars)
        // Products on one task while another keeps releasing every packed weight.
        let big = pseudoRandomTensor([400, 64], seed: 63)
        let expected = linear(big, weight: weight)
        let done = ManagedFlag()
        let releaser = Thread {
            while !done.isSet { PackedWeights.releaseAll() }
        }
        releaser.start()
        for _ in 0..<200 { #expect(linear(big, weight: weight).scalars == expected.scalars) }
        done.set()
    }

    /// `matmul(precision: .bfloat16)` reaches the bf16 kernel.
    @Test func matmulPrecisionSelectsBFloat16() {
        let a = pseudoRandomTensor([9, 70], seed: 48), b = pseudoRandomTensor([70, 33], seed: 49)
        let exact = matmul(a, b)
        let reduced = matmul(a, b, precision: .bfloat16)
        let error = nmse(reduced, exact)
        #expect(error > 1e-8 && error < 3e-5, "\(error)")
    }
}

/// Runtime dispatch, on any CPU.
@Suite struct CPUKernelsTests {
    @Test func genericLevelIsAlwaysAvailableAndFallsBackToFloat32() {
        CPUKernels.withLevel(.generic) {
            #expect(CPUKernels.active == .generic)
            #expect(CPUKernels.effective(.bfloat16) == .float32)
            // The f32 result of a bf16 request: identical to asking for f32.
            let a = pseudoRandomTensor([5, 40], seed: 61), b = pseudoRandomTensor([40, 7], seed: 62)
            #expect(matmul(a, b, precision: .bfloat16).scalars == matmul(a, b).scalars)
        }
        // The task's level never exceeds what the CPU supports.
        CPUKernels.withLevel(.avx512) { #expect(CPUKernels.active == CPUKernels.detected) }
    }

    /// Levels are ordered; `avx512f` (AVX-512 without BF16) never gets bf16 arithmetic.
    @Test func avx512fLevelIsBetweenAndHasNoBFloat16() {
        #expect(KernelLevel.allCases.sorted() == [.generic, .avx2, .avx512f, .avx512])
        #expect(KernelLevel(rawValue: "avx512f") == .avx512f)
        CPUKernels.withLevel(.avx512f) {
            #expect(CPUKernels.active == min(.avx512f, CPUKernels.detected))
            #expect(CPUKernels.effective(.bfloat16) == .float32)
            #expect(CPUKernels.effective(.float32) == .float32)
        }
        #expect(CPUKernels.processLevel <= CPUKernels.detected)
    }

    /// Workers started by `Parallel.forEach` see the calling task's level.
    @Test func workersInheritTheTaskLevel() {
        let seen = CPUKernels.withLevel(.generic) { () -> [KernelLevel] in
            var levels = [KernelLevel](repeating: .avx512, count: 4)
            levels.withUnsafeMutableBufferPointer { buffer in
                let base = buffer.baseAddress!
                withThreads(4) { Parallel.forEach(4) { range in for i in range { base[i] = CPUKernels.active } } }
            }
            return levels
        }
        #expect(seen.allSatisfy { $0 == .generic })
    }
}

/// A flag one thread sets and another polls.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
