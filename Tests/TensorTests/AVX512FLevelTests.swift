import Foundation
import TestSupport
import Testing
@testable import Tensor

/// The `avx512f` kernel level (AVX-512 without BF16/VNNI: Skylake-SP to Ice Lake), run here by
/// lowering the level on a CPU that has more: the f32 kernels must give exactly the `avx512`
/// level's f32 results, and every weight type must take the f32 path there (a bf16 or int8
/// instruction on such a CPU would kill the process). `scripts/check-kernel-isa` checks the other
/// half: that the compiler put BF16/VNNI instructions only in the bf16 and int8 kernels.
@Suite(.enabled(if: CPUKernels.detected >= .avx512f, "needs AVX-512"))
struct AVX512FLevelTests {
    /// Every op that dispatches on the level: linear and convolutions (direct, and Winograd on a
    /// 64-tile shape) with f32, f16 and q8_0 weights, attention and matmul with a bf16 request.
    static func products(_ weights: [WeightMatrix], bfloat16Request: ComputePrecision) -> [Tensor] {
        let x = pseudoRandomTensor([9, 64], seed: 70)
        let image = pseudoRandomTensor([1, 32, 32, 32], seed: 71)
        let small = pseudoRandomTensor([2, 32, 9, 11], seed: 72)
        let q = pseudoRandomTensor([1, 150, 48], seed: 73), k = pseudoRandomTensor([1, 90, 48], seed: 74)
        var out: [Tensor] = []
        for weight in weights {
            if weight.shape.count == 2 {
                out.append(linear(x, weight: weight))
            } else {
                out.append(conv2d(image, weight: weight, padding: 1))
                out.append(conv2d(small, weight: weight, padding: 1))
                out.append(conv2d(small, weight: weight, stride: 2, padding: 1))
            }
        }
        out.append(scaledDotProductAttention(q, k, k, heads: 2, precision: bfloat16Request))
        out.append(matmul(q.reshaped(150, 48), k.reshaped(90, 48), transposeB: true, precision: bfloat16Request))
        return out
    }

    static func weights() throws -> [WeightMatrix] {
        let linearWeight = pseudoRandomTensor([70, 64], seed: 75, scale: 0.2)
        let convWeight = pseudoRandomTensor([32, 32, 3, 3], seed: 76, scale: 0.1)
        var weights: [WeightMatrix] = []
        for dtype in [DType.f32, .f16, .q8_0] {
            weights.append(try WeightMatrix(encodedWeight(linearWeight, as: dtype).0))
            // q8_0 blocks run along the innermost dimension, which a 3x3 kernel's 3 cannot fill
            // (GGUF files keep convolutions in f16).
            if dtype != .q8_0 { weights.append(try WeightMatrix(encodedWeight(convWeight, as: dtype).0)) }
        }
        return weights
    }

    /// At `avx512f` a bf16 request (the default for f16 and q8_0 weights) gets f32 arithmetic,
    /// bit for bit what the `avx512` level computes when asked for f32; the `avx512` level's own
    /// bf16/int8 results differ, so the comparison can tell the paths apart.
    @Test func encodedWeightsAndBFloat16RequestsRunInFloat32() throws {
        let weights = try Self.weights()
        let lowered = CPUKernels.withLevel(.avx512f) {
            WeightMatrix.withEncodedWeightPrecision(.bfloat16) { Self.products(weights, bfloat16Request: .bfloat16) }
        }
        let float32 = CPUKernels.withLevel(.avx512) {
            WeightMatrix.withEncodedWeightPrecision(.float32) { Self.products(weights, bfloat16Request: .float32) }
        }
        #expect(lowered.count == float32.count)
        for i in lowered.indices {
            #expect(lowered[i].scalars == float32[i].scalars, "product \(i): \(describeDifference(lowered[i], float32[i]))")
        }
        guard CPUKernels.detected == .avx512 else { return }
        let reduced = CPUKernels.withLevel(.avx512) {
            WeightMatrix.withEncodedWeightPrecision(.bfloat16) { Self.products(weights, bfloat16Request: .bfloat16) }
        }
        // f32 weights (products 0-3) stay f32 at every level; the rest are bf16 or int8 at `avx512`.
        for i in 4..<reduced.count {
            let error = nmse(reduced[i], lowered[i])
            #expect(error > 1e-8 && error < 1e-3, "product \(i): NMSE \(error) between bf16/int8 and f32")
        }
    }

    /// `avx512f` runs our kernels, not the generic ones: the results agree with the generic
    /// level's (OpenBLAS, portable Winograd) closely but not bit for bit, and the 64-tile f32
    /// convolution takes our Winograd path, not the direct one.
    @Test func runsTheAVX512KernelsNotTheGenericOnes() throws {
        let weights = try Self.weights()
        let lowered = CPUKernels.withLevel(.avx512f) { Self.products(weights, bfloat16Request: .float32) }
        let generic = CPUKernels.withLevel(.generic) { Self.products(weights, bfloat16Request: .float32) }
        for i in lowered.indices {
            #expect(nmse(lowered[i], generic[i]) <= 1e-11, "product \(i): \(describeDifference(lowered[i], generic[i]))")
        }
        // Product 1: the f32 convolution over 64 tiles.
        #expect(lowered[1].scalars != generic[1].scalars)
        let direct = CPUKernels.withLevel(.avx512f) {
            Conv2dTuning.$winograd.withValue(false) { Self.products(weights, bfloat16Request: .float32) }
        }
        #expect(lowered[1].scalars != direct[1].scalars)
    }
}
