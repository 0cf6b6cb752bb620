import Foundation
import TestSupport
import Testing
@testable import Tensor

/// The `avx2` kernel level (AVX2, FMA and F16C without AVX-512: Haswell to Alder Lake, Zen 1 to
/// 3), run on any CPU that has it, by lowering the level where the CPU has more. Decoding must give
/// exactly the generic decoders' values; the activation and normalization loops are the same
/// `SIMDMath` source compiled for 256-bit vectors with FMA, so they agree to rounding.
@Suite(.enabled(if: CPUKernels.detected >= .avx2, "needs AVX2, FMA and F16C"))
struct AVX2LevelTests {
    static func decoded(_ dtype: DType, _ bytes: [UInt8], count: Int, at level: KernelLevel) -> [Float] {
        var out = [Float](repeating: -1, count: count)
        CPUKernels.withLevel(level) {
            bytes.withUnsafeBytes { src in
                out.withUnsafeMutableBufferPointer { Dequantization.decode(dtype, from: src.baseAddress!, count: count, into: $0.baseAddress!) }
            }
        }
        return out
    }

    /// Every one of the 65536 halves (subnormals, infinities, NaNs), and a count that leaves a tail.
    @Test(arguments: [DType.f16, .bf16], [65536, 13])
    func sixteenBitWeightsDecodeToTheGenericValues(dtype: DType, count: Int) {
        let bytes = (0..<count).flatMap { i -> [UInt8] in
            let bits = UInt16(truncatingIfNeeded: count == 13 ? i * 5003 + 77 : i)
            return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
        }
        let fast = Self.decoded(dtype, bytes, count: count, at: .avx2)
        let generic = Self.decoded(dtype, bytes, count: count, at: .generic)
        var mismatches = 0
        for (a, b) in zip(fast, generic) where !(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)) { mismatches += 1 }
        #expect(mismatches == 0)
        #expect(fast.filter(\.isNaN).count == generic.filter(\.isNaN).count)
    }

    /// q8_0 blocks with every int8 value and scales from subnormal to large.
    @Test func q8_0BlocksDecodeToTheGenericValues() {
        let scales: [Float] = [0, 1e-7, 6.1e-5, 0.0123, -0.5, 1, 3.75, 60000]
        var bytes: [UInt8] = []
        for (b, scale) in scales.enumerated() {
            let d = Dequantization.floatToHalf(scale)
            bytes += [UInt8(d & 0xFF), UInt8(d >> 8)]
            bytes += (0..<32).map { UInt8(truncatingIfNeeded: b * 32 + $0) }
        }
        let count = scales.count * 32
        let fast = Self.decoded(.q8_0, bytes, count: count, at: .avx2)
        let generic = Self.decoded(.q8_0, bytes, count: count, at: .generic)
        #expect(fast.map(\.bitPattern) == generic.map(\.bitPattern))
        #expect(fast[33] == Dequantization.halfToFloat(Dequantization.floatToHalf(1e-7)) * 33)
    }

    @Test func activationsAndNormalizationsAgreeWithTheGenericLevel() {
        let x = pseudoRandomTensor([2, 64, 9, 7], seed: 90, scale: 3)
        let gamma = pseudoRandomTensor([64], seed: 91), beta = pseudoRandomTensor([64], seed: 92)
        func run(_ level: KernelLevel) -> [Tensor] {
            CPUKernels.withLevel(level) {
                [
                    x.reshaped(126, 64).geglu(),
                    x.groupNorm(groups: 8, weight: gamma, bias: beta, epsilon: 1e-5),
                    x.groupNorm(groups: 32, weight: gamma, bias: beta, epsilon: 1e-6, applyingSiLU: true),
                ]
            }
        }
        let fast = run(.avx2), generic = run(.generic)
        #expect(fast.count == 3)
        for (a, b) in zip(fast, generic) {
            #expect(a.shape == b.shape)
            #expect(maxAbsDifference(a.scalars, b.scalars) <= 2e-6, "\(describeDifference(a, b))")
        }
    }

    /// The Winograd transforms built for AVX2 (a 3x3 convolution over 2·64 tiles, with edge tiles).
    @Test func winogradConvolutionAgreesWithTheGenericLevel() {
        let x = pseudoRandomTensor([2, 32, 30, 31], seed: 96)
        let w = pseudoRandomTensor([40, 32, 3, 3], seed: 97, scale: 0.1), bias = pseudoRandomTensor([40], seed: 98)
        #expect(PortableWinogradConvolution.accepts(
            ConvGeometry(cin: 32, h: 30, w: 31, kh: 3, kw: 3, strideY: 1, strideX: 1, padTop: 1, padLeft: 1, ho: 30, wo: 31),
            cout: 40, batch: 2))
        let fast = CPUKernels.withLevel(.avx2) { conv2d(x, weight: w, bias: bias, padding: 1) }
        let generic = CPUKernels.withLevel(.generic) { conv2d(x, weight: w, bias: bias, padding: 1) }
        #expect(nmse(fast, generic) <= 1e-12, "\(describeDifference(fast, generic))")
    }

    /// The flash attention's online softmax, over several key blocks (the running max and sum
    /// carried across them) and a tail.
    @Test func attentionAgreesWithTheGenericLevel() {
        let q = pseudoRandomTensor([2, 300, 80], seed: 93, scale: 2), k = pseudoRandomTensor([2, 1100, 80], seed: 94, scale: 2)
        let v = pseudoRandomTensor([2, 1100, 80], seed: 95)
        let fast = CPUKernels.withLevel(.avx2) { scaledDotProductAttention(q, k, v, heads: 2) }
        let generic = CPUKernels.withLevel(.generic) { scaledDotProductAttention(q, k, v, heads: 2) }
        #expect(nmse(fast, generic) <= 1e-12, "\(describeDifference(fast, generic))")
    }

    /// How the weight of `storedWeightProductsUsePackedWeights` sits in its file.
    enum WeightFile: CaseIterable {
        case f32Aligned, f32Unaligned, f16Aligned, f16Unaligned, bf16, q8_0

        var dtype: DType {
            switch self {
            case .f32Aligned, .f32Unaligned: .f32
            case .f16Aligned, .f16Unaligned: .f16
            case .bf16: .bf16
            case .q8_0: .q8_0
            }
        }
        /// Bytes before the tensor: 4-byte aligned, or not (a 16-bit weight at an odd offset).
        var headerBytes: Int {
            switch self {
            case .f32Aligned, .f16Aligned, .bf16: 4
            case .f32Unaligned: 6
            case .f16Unaligned: 5
            case .q8_0: 3
            }
        }

        /// `values` as this file stores them.
        func encode(_ values: [Float]) -> [UInt8] {
            switch dtype {
            case .f32: return values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
            case .f16: return values.flatMap { withUnsafeBytes(of: Float16($0).bitPattern.littleEndian, Array.init) }
            case .bf16:
                return values.flatMap {
                    withUnsafeBytes(of: Dequantization.floatToBFloat16($0).littleEndian, Array.init)
                }
            default:
                var bytes = [UInt8](repeating: 0, count: values.count / 32 * 34)
                values.withUnsafeBufferPointer { src in
                    bytes.withUnsafeMutableBytes { QuantizedBlocks.encodeQ8_0(src.baseAddress!, count: src.count, into: $0.baseAddress!) }
                }
                return bytes
            }
        }
    }

    /// An f32, f16, bf16 or q8_0 weight from a file multiplied by `AVX2Gemm` (packed on first use,
    /// f16 and bf16 as 16-bit patterns, q8_0 as int8 and scales, file pages released), as a
    /// convolution's W · act and as a linear layer's act · Wᵀ: 21 rows (a partial 6- and 16-row
    /// sliver), K = 333 (352 for q8_0; a full and a partial 256 block), 50 activations (partial
    /// slivers), overwriting and accumulating; then 300 (past the packing threshold, across two
    /// 256-column panels and three 144-row activation blocks), which a packed weight also takes.
    /// Reference: the product of the stored values (as the generic decoder reads them) summed in
    /// Double.
    @Test(arguments: WeightFile.allCases, [WeightProductLayout.weightTimesActivationColumns, .activationRowsTimesTransposedWeight])
    func storedWeightProductsUsePackedWeights(file weightFile: WeightFile, layout: WeightProductLayout) throws {
        let (rows, k) = (21, weightFile.dtype == .q8_0 ? 352 : 333)
        let bytes = weightFile.encode(pseudoRandomTensor([rows, k], seed: 110).scalars)
        let header = weightFile.headerBytes
        let file = MappedFile(name: "avx2-packed.safetensors", data: [UInt8](repeating: 0, count: header) + bytes)
        let stored = StoredTensor(
            name: "w", dtype: weightFile.dtype, shape: [rows, k], bytes: UnsafeRawBufferPointer(rebasing: file.bytes[header...]),
            file: file)
        // The values the file holds.
        let w = try CPUKernels.withLevel(.generic) { try stored.toTensor().scalars }
        let weight = try WeightMatrix(stored)
        let conv = layout == .weightTimesActivationColumns
        for (count, beta, seed) in [(50, Float(0), UInt64(111)), (50, 1, 112), (300, 1, 113)] {
            // conv: act [k, count], out [rows, count]; linear: act [count, k], out [count, rows].
            let act = pseudoRandomTensor(conv ? [k, count] : [count, k], seed: seed)
            let initial = pseudoRandomTensor(conv ? [rows, count] : [count, rows], seed: seed + 10)
            var expected = [Float](repeating: 0, count: rows * count)
            let a = act.scalars, c = initial.scalars
            for i in 0..<rows {
                for j in 0..<count {
                    let at = conv ? i * count + j : j * rows + i
                    var sum = beta == 0 ? 0 : Double(c[at])
                    for p in 0..<k {
                        sum += Double(w[i * k + p]) * Double(a[conv ? p * count + j : j * k + p])
                    }
                    expected[at] = Float(sum)
                }
            }
            var out = initial.scalars
            CPUKernels.withLevel(.avx2) {
                #expect(weight.usesAVX2Packed(layout, count: count))
                act.withUnsafeBufferPointer { a in
                    out.withUnsafeMutableBufferPointer { o in
                        weight.multiply(
                            layout, activations: a.baseAddress!, activationStride: conv ? count : k, count: count,
                            output: o.baseAddress!, outputStride: conv ? count : rows, beta: beta)
                    }
                }
            }
            #expect(weight.packCache.contains(conv ? "avx2" : "avx2-transposed"))
            #expect(nmse(out, expected) <= 1e-12, "count \(count), beta \(beta): \(describeDifference(out, expected))")
        }
        // The packed copy keeps the file's element size: 2 bytes per element for f16 and bf16, 1
        // and a float per 32 for q8_0.
        let padded = (conv ? 24 : 32) * k
        let bytesPacked =
            switch weightFile.dtype {
            case .f32: padded * 4
            case .q8_0: (padded + 63) / 64 * 64 + padded / 32 * 4
            default: padded * 2
            }
        #expect(weight.avx2PackedWeight(stored, layout).byteCount == bytesPacked)
    }

    /// A convolution of the UNet's small levels (batch 2, 4x4 pixels: all 32 output pixels in one
    /// product) through `AVX2Gemm`, against the generic level's OpenBLAS product.
    @Test func smallImageConvolutionWithAFileWeightAgreesWithTheGenericLevel() throws {
        let w = pseudoRandomTensor([20, 24, 3, 3], seed: 114, scale: 0.1), bias = pseudoRandomTensor([20], seed: 115)
        let x = pseudoRandomTensor([2, 24, 4, 4], seed: 116)
        let bytes = w.scalars.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        let file = MappedFile(name: "conv.safetensors", data: bytes)
        let weight = try WeightMatrix(StoredTensor(name: "conv", dtype: .f32, shape: w.shape, bytes: file.bytes, file: file))
        let fast = CPUKernels.withLevel(.avx2) { conv2d(x, weight: weight, bias: bias, padding: 1) }
        #expect(weight.packCache.contains("avx2"))
        let generic = CPUKernels.withLevel(.generic) { conv2d(x, weight: WeightMatrix(w), bias: bias, padding: 1) }
        #expect(nmse(fast, generic) <= 1e-12, "\(describeDifference(fast, generic))")
    }
}

@Suite struct KernelLevelDetectionTests {
    /// On Linux the CPU flags the kernel reports (it hides what the OS does not save) say which
    /// level detection must find.
    @Test func detectionMatchesTheKernelsCPUFlags() throws {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return }
        let flags = Set(line.split(separator: " ").map(String.init))
        let avx512 = ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains)
        let bf16 = flags.contains("avx512_bf16") && flags.contains("avx512_vnni")
        let avx2 = ["avx2", "fma", "f16c"].allSatisfy(flags.contains)
        #if arch(x86_64)
        let expected: KernelLevel = !avx2 ? .generic : avx512 ? (bf16 ? .avx512 : .avx512f) : .avx2
        #else
        let expected = KernelLevel.generic
        #endif
        #expect(CPUKernels.detected == expected, "flags: avx2/fma/f16c \(avx2), avx512 \(avx512), bf16/vnni \(bf16)")
    }
}
