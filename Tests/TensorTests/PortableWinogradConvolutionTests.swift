import SIMDMath
import TestSupport
import Testing
@testable import Tensor

/// The generic level's Winograd F(4x4, 3x3) (portable transforms, OpenBLAS GEMMs) against the
/// double-precision reference convolution; runs on every CPU.
@Suite struct PortableWinogradConvolutionTests {
    typealias Case = WinogradCase

    static let cases: [Case] = [
        // Sizes not multiples of 4 (partial tiles on two sides, edge patches read through the
        // bounds-checked path), a partial last 8-tile group, input channels not a multiple of 8.
        Case(batch: 2, cin: 37, h: 13, w: 11, cout: 35),
        // One tile, no bias: every patch is an edge patch.
        Case(batch: 1, cin: 40, h: 4, w: 3, cout: 33, bias: false),
        // Interior tiles; 522 tiles in 3 blocks (176, 176, 170), one per worker, crossing images.
        Case(batch: 2, cin: 33, h: 36, w: 116, cout: 48, threads: 3),
        // Several blocks of output channels.
        Case(batch: 1, cin: 64, h: 10, w: 14, cout: 100, filterBudget: 36 * 64 * 4 * 24),
    ]

    @Test(arguments: cases)
    func matchesReference(_ c: Case) {
        let x = pseudoRandomTensor([c.batch, c.cin, c.h, c.w], seed: 81)
        let w = pseudoRandomTensor([c.cout, c.cin, 3, 3], seed: 82, scale: 0.2)
        let bias = c.bias ? pseudoRandomTensor([c.cout], seed: 83) : nil
        let expected = referenceConv2d(x, w, bias: bias, strideY: 1, strideX: 1, top: 1, bottom: 1, left: 1, right: 1)
        let actual = withThreads(c.threads) { Self.winograd(x, WeightMatrix(w), bias: bias, filterBudget: c.filterBudget) }
        let error = nmse(actual, expected)
        report("portable winograd \(c.testDescription) NMSE", error)
        // F(4x4, 3x3) in f32 loses a few bits to its transforms (coefficients up to 8): 1.0-2.1e-12
        // measured on these cases (OPS_REPORT=1).
        #expect(error <= 1e-10, "\(c.testDescription): NMSE \(error) \(describeDifference(actual, expected))")
    }

    /// The 36 positions' matrices are spaced an odd number of 64-byte lines apart (never a multiple
    /// of 4 KB, where the transforms' 36 streams would share one L1 set), with less than two lines
    /// of padding. The strides are used on both levels; a stride inconsistent between a transform
    /// and its GEMMs fails `matchesReference` and the AVX-512 suite.
    @Test(arguments: [1, 15, 16, 17, 1024, 8192, 24 * 320, 24 * 1280, 516 * 1280, 36 * 256])
    func positionStridesAvoidFourKilobyteMultiples(_ floats: Int) {
        let stride = WinogradF4x3.positionStride(floats: floats)
        #expect(stride >= floats && stride - floats < 32, "\(floats) -> \(stride)")
        #expect(stride % 16 == 0 && (stride / 16) % 2 == 1, "\(floats) -> \(stride)")
        #expect((stride * 4) % 4096 != 0)
    }

    /// Stored f16 weights are decoded row by row into the filter transform, exactly.
    @Test func storedWeightsAreDecoded() throws {
        let x = pseudoRandomTensor([1, 36, 12, 12], seed: 84)
        let (stored, decoded) = try encodedWeight(pseudoRandomTensor([40, 36, 3, 3], seed: 85, scale: 0.2), as: .f16)
        let expected = referenceConv2d(x, decoded, bias: nil, strideY: 1, strideX: 1, top: 1, bottom: 1, left: 1, right: 1)
        let actual = Self.winograd(x, try WeightMatrix(stored), bias: nil)
        #expect(nmse(actual, expected) <= 1e-10, "\(describeDifference(actual, expected))")
    }

    /// `conv2d` at the generic level takes this path for shapes it accepts, and the direct one
    /// otherwise.
    @Test func conv2dChoosesItAtTheGenericLevel() {
        let x = pseudoRandomTensor([1, 32, 32, 32], seed: 86)
        let w = pseudoRandomTensor([32, 32, 3, 3], seed: 87, scale: 0.2)
        func geometry(cin: Int, size: Int) -> ConvGeometry {
            ConvGeometry(
                cin: cin, h: size, w: size, kh: 3, kw: 3, strideY: 1, strideX: 1, padTop: 1, padLeft: 1, ho: size, wo: size)
        }
        #expect(PortableWinogradConvolution.accepts(geometry(cin: 32, size: 32), cout: 32, batch: 1))  // 64 tiles
        #expect(!PortableWinogradConvolution.accepts(geometry(cin: 32, size: 16), cout: 32, batch: 3))  // 48 tiles
        #expect(!PortableWinogradConvolution.accepts(geometry(cin: 16, size: 64), cout: 32, batch: 1))  // few channels
        #expect(!PortableWinogradConvolution.accepts(geometry(cin: 32, size: 64), cout: 16, batch: 1))
        let expected = referenceConv2d(x, w, bias: nil, strideY: 1, strideX: 1, top: 1, bottom: 1, left: 1, right: 1)
        let chosen = CPUKernels.withLevel(.generic) { conv2d(x, weight: w, padding: 1) }
        let direct = CPUKernels.withLevel(.generic) { Conv2dTuning.$winograd.withValue(false) { conv2d(x, weight: w, padding: 1) } }
        // At the generic level too: at `avx512f` and above its GEMMs would be ours, not OpenBLAS's.
        let winograd = CPUKernels.withLevel(.generic) { Self.winograd(x, WeightMatrix(w), bias: nil) }
        #expect(chosen.scalars == winograd.scalars)
        #expect(direct.scalars != winograd.scalars)
        #expect(nmse(chosen, expected) <= 1e-10 && nmse(direct, expected) <= 1e-10)
    }

    static func winograd(_ x: Tensor, _ weight: WeightMatrix, bias: Tensor?, filterBudget: Int? = nil) -> Tensor {
        winogradConvolution(
            {
                PortableWinogradConvolution.convolve(
                    input: $0, batch: $1, geometry: $2, cout: $3, weight: $4, bias: $5, output: $6, filterBudget: $7)
            }, x, weight, bias: bias, filterBudget: filterBudget ?? PortableWinogradConvolution.maxFilterBytes)
    }
}
