import Tensor
import Testing

/// Parity with the fp32 references is checked with f32 arithmetic everywhere: by default f16 and
/// bf16 weights multiply in bf16 on AVX-512 BF16 machines, whose rounding (about 1e-5 NMSE per
/// layer) is bounded by its own tests (`BFloat16ArithmeticTests`), not by the parity tolerances.
struct Float32Arithmetic: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await WeightMatrix.withEncodedWeightPrecision(.float32) { try await function() }
    }
}

extension Trait where Self == Float32Arithmetic {
    /// Runs the suite or test with f32 arithmetic for encoded weights.
    static var float32Arithmetic: Self { Self() }
}
