import TestSupport
import Testing
@testable import Tensor

#if arch(x86_64)
/// Winograd F(4x4, 3x3) convolutions against the double-precision reference convolution.
@Suite(.enabled(if: CPUKernels.detected == .avx512, "needs AVX-512"))
struct WinogradConvolutionTests {
    typealias Case = WinogradCase

    static let cases: [Case] = [
        // Sizes not multiples of 4 (partial tiles on two sides), a partial 16-tile group and a
        // partial sliver of output channels.
        Case(batch: 2, cin: 40, h: 13, w: 11, cout: 37),
        // Several 128-channel chunks with a short last one; one tile; no bias.
        Case(batch: 1, cin: 300, h: 4, w: 3, cout: 35, bias: false),
        // Several tile blocks (162 tiles) with a partial last one, split across 4 workers
        // (fewer than 2 blocks per worker: the workers split the output channels).
        Case(batch: 2, cin: 33, h: 36, w: 36, cout: 64, threads: 4),
        // Tile blocks split between workers (at least 2 each): the input transformed per block
        // (one block of output channels), or once and shared (several; 200 tiles over 2 workers).
        Case(batch: 2, cin: 33, h: 36, w: 36, cout: 64, threads: 1),
        Case(batch: 2, cin: 140, h: 40, w: 40, cout: 50, filterBudget: 36 * 140 * 4 * 24),
        // Widths of whole 4-tile runs read through padded lines: 16 tiles a row over 3 blocks,
        // 8 a row (two rows per 16 lanes), 12 a row (blocks starting mid-row) with a partial
        // last tile row.
        Case(batch: 2, cin: 33, h: 20, w: 64, cout: 40, threads: 4),
        Case(batch: 1, cin: 40, h: 32, w: 32, cout: 70),
        Case(batch: 1, cin: 36, h: 9, w: 48, cout: 32, bias: false),
        // Few tile blocks and many workers: the block's output channels are split too.
        Case(batch: 1, cin: 48, h: 16, w: 16, cout: 90, threads: 8),
        // Workers splitting the output channels, each through several U of 4 slivers (the
        // smallest) with a short last one.
        Case(batch: 2, cin: 64, h: 10, w: 14, cout: 100, filterBudget: 36 * 64 * 4 * 24, threads: 3),
        // Output channels split, 32 tiles (the UNet's 16x16 level), several chunks.
        Case(batch: 2, cin: 260, h: 16, w: 16, cout: 45),
    ]

    @Test(arguments: cases)
    func matchesReference(_ c: Case) {
        let x = pseudoRandomTensor([c.batch, c.cin, c.h, c.w], seed: 61)
        let w = pseudoRandomTensor([c.cout, c.cin, 3, 3], seed: 62, scale: 0.2)
        let bias = c.bias ? pseudoRandomTensor([c.cout], seed: 63) : nil
        let expected = referenceConv2d(x, w, bias: bias, strideY: 1, strideX: 1, top: 1, bottom: 1, left: 1, right: 1)
        let actual = withThreads(c.threads) { winograd(x, WeightMatrix(w), bias: bias, filterBudget: c.filterBudget) }
        let error = nmse(actual, expected)
        report("winograd \(c.testDescription) NMSE", error)
        // F(4x4, 3x3) in f32 loses a few bits to its transforms (coefficients up to 8): about
        // 2e-12 measured on these cases.
        #expect(error <= 1e-10, "\(c.testDescription): \(describeDifference(actual, expected))")
    }

    /// Stored weights read back from the direct path's packed operand: f32 exactly, f16 through
    /// the bf16 values the direct path packs.
    @Test(arguments: [DType.f32, .f16])
    func storedWeightsUseThePackedOperand(dtype: DType) throws {
        let x = pseudoRandomTensor([2, 36, 12, 12], seed: 64)
        let (stored, decoded) = try encodedWeight(pseudoRandomTensor([40, 36, 3, 3], seed: 65, scale: 0.2), as: dtype)
        let bias = pseudoRandomTensor([40], seed: 66)
        let expected = referenceConv2d(
            x, decoded, bias: bias, strideY: 1, strideX: 1, top: 1, bottom: 1, left: 1, right: 1)
        let actual = winograd(x, try WeightMatrix(stored), bias: bias)
        let error = nmse(actual, expected)
        report("winograd stored \(dtype) NMSE", error)
        // bf16 filters (about 2^-9 relative per weight) with f32 activations and sums.
        let tolerance = dtype == .f32 ? 1e-10 : 1e-5
        #expect(error <= tolerance, "\(dtype): \(describeDifference(actual, expected))")
        if dtype == .f16 { #expect(error > 1e-9, "the bf16 rounding should show") }
    }

    /// `conv2d` takes this path for SD-sized 3x3 convolutions and not for the others.
    @Test func conv2dChoosesWinogradByShape() {
        func accepts(_ batch: Int, _ cin: Int, _ h: Int, _ w: Int, _ cout: Int, stride: Int = 1, pad: Int = 1) -> Bool {
            let geometry = ConvGeometry(
                cin: cin, h: h, w: w, kh: 3, kw: 3, strideY: stride, strideX: stride, padTop: pad, padLeft: pad,
                ho: (h + 2 * pad - 3) / stride + 1, wo: (w + 2 * pad - 3) / stride + 1)
            let weight = WeightMatrix(Tensor.zeros([cout, cin, 3, 3]))
            return WinogradConvolution.accepts(geometry, cout: cout, batch: batch, weight: weight)
        }
        #expect(accepts(2, 320, 32, 32, 320))
        #expect(accepts(1, 512, 64, 64, 512))
        #expect(accepts(1, 512, 32, 32, 512))    // 64 tiles
        #expect(accepts(2, 640, 16, 16, 640))    // 32 tiles
        #expect(!accepts(2, 1280, 8, 8, 1280))   // 8 tiles: the filter transforms cost more
        #expect(!accepts(1, 128, 64, 64, 3))    // 3 output channels
        #expect(!accepts(1, 4, 64, 64, 512))    // 4 input channels
        #expect(!accepts(2, 320, 64, 64, 320, stride: 2))
        #expect(!accepts(2, 320, 64, 64, 320, pad: 0))
    }

    /// f16 weights at the `avx512` level multiply directly in bf16, twice the f32 rate: Winograd
    /// (f32 GEMMs) from 64 tiles; at `avx512f` they are packed in f32 and take the f32 bound.
    @Test func encodedWeightsNeedMoreTiles() throws {
        let (stored, _) = try encodedWeight(pseudoRandomTensor([64, 64, 3, 3], seed: 70), as: .f16)
        let weight = try WeightMatrix(stored)
        func accepts(_ batch: Int, _ size: Int) -> Bool {
            let geometry = ConvGeometry(
                cin: 64, h: size, w: size, kh: 3, kw: 3, strideY: 1, strideX: 1, padTop: 1, padLeft: 1, ho: size, wo: size)
            return WinogradConvolution.accepts(geometry, cout: 64, batch: batch, weight: weight)
        }
        WeightMatrix.withEncodedWeightPrecision(.bfloat16) {
            CPUKernels.withLevel(.avx512) {
                #expect(accepts(1, 32))     // 64 tiles
                #expect(!accepts(2, 16))    // 32 tiles
            }
            CPUKernels.withLevel(.avx512f) { #expect(accepts(2, 16)) }
        }
    }

    /// And `conv2d` agrees with it end to end (64 tiles).
    @Test func conv2dMatchesReferenceThroughWinograd() {
        let x = pseudoRandomTensor([1, 32, 32, 32], seed: 67)
        let w = pseudoRandomTensor([32, 32, 3, 3], seed: 68, scale: 0.2)
        let bias = pseudoRandomTensor([32], seed: 69)
        let expected = referenceConv2d(x, w, bias: bias, strideY: 1, strideX: 1, top: 1, bottom: 1, left: 1, right: 1)
        let geometry = ConvGeometry(
            cin: 32, h: 32, w: 32, kh: 3, kw: 3, strideY: 1, strideX: 1, padTop: 1, padLeft: 1, ho: 32, wo: 32)
        #expect(WinogradConvolution.accepts(geometry, cout: 32, batch: 1, weight: WeightMatrix(w)))
        let actual = conv2d(x, weight: w, bias: bias, padding: 1)
        let error = nmse(actual, expected)
        #expect(error <= 1e-10, "\(describeDifference(actual, expected))")
        // The direct GEMM rounds differently: the two paths agree closely but not bit for bit.
        let direct = Conv2dTuning.$winograd.withValue(false) { conv2d(x, weight: w, bias: bias, padding: 1) }
        #expect(nmse(direct, expected) <= 1e-10 && direct.scalars != actual.scalars)
    }

    private func winograd(_ x: Tensor, _ weight: WeightMatrix, bias: Tensor?, filterBudget: Int? = nil) -> Tensor {
        winogradConvolution(
            {
                WinogradConvolution.convolve(
                    input: $0, batch: $1, geometry: $2, cout: $3, weight: $4, bias: $5, output: $6, filterBudget: $7)
            }, x, weight, bias: bias, filterBudget: filterBudget ?? WinogradConvolution.maxFilterBytes)
    }
}

#endif
