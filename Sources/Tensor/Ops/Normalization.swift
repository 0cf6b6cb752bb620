import Foundation
import SIMDMath
import TensorKernels
import TensorKernelsAVX2

/// Group normalization and layer normalization.
///
/// Statistics use two passes (mean, then the mean of squared deviations) with Float SIMD partial
/// sums flushed into `Double` every block: a 512×512 VAE group holds 16·512·512 ≈ 4M elements, far
/// beyond what a single Float accumulator or the one-pass E[x²] − E[x]² formula keeps accurate.
extension Tensor {
    /// Group normalization of `[N, C, ...]` (PyTorch `nn.GroupNorm`): each sample's channels are
    /// split into `groups` groups normalized over (channels of the group × spatial), then scaled by
    /// `weight[c]` and shifted by `bias[c]` (both `[C]`, optional). Biased variance, as PyTorch.
    ///
    /// - Parameter applyingSiLU: fuses a SiLU after the affine step, the GroupNorm → SiLU pair that
    ///   opens most UNet and VAE blocks, saving one pass over memory.
    public func groupNorm(
        groups: Int, weight: Tensor?, bias: Tensor?, epsilon: Float, applyingSiLU: Bool = false
    ) -> Tensor {
        precondition(rank >= 2, "groupNorm: expected [N, C, ...], got \(shape)")
        let batch = shape[0], channels = shape[1]
        precondition(groups > 0 && channels % groups == 0, "groupNorm: \(channels) channels in \(groups) groups (shape \(shape))")
        if let weight { precondition(weight.count == channels, "groupNorm: weight \(weight.shape) for shape \(shape)") }
        if let bias { precondition(bias.count == channels, "groupNorm: bias \(bias.shape) for shape \(shape)") }
        let spatial = count / Swift.max(1, batch * channels)
        let groupSize = channels / groups * spatial

        // Pass 1–2: mean and 1/σ per (sample, group), one group per task.
        var mean = [Float](repeating: 0, count: batch * groups)
        var invStd = mean
        withUnsafeBufferPointer { xb in
            let x = xb.baseAddress!
            mean.withUnsafeMutableBufferPointer { mb in
                invStd.withUnsafeMutableBufferPointer { sb in
                    let m = mb.baseAddress!, s = sb.baseAddress!
                    Parallel.forEach(batch * groups, minChunk: Swift.max(1, memoryBoundMinChunk / Swift.max(1, groupSize))) {
                        range in
                        for g in range {
                            let (mu, variance) = Tensor.meanAndVariance(x + g * groupSize, groupSize)
                            m[g] = Float(mu)
                            s[g] = Float(1 / (variance + Double(epsilon)).squareRoot())
                        }
                    }
                }
            }
        }

        // Pass 3: per channel, y = x·a + b with a = w·invStd and b = bias − mean·a (one FMA-able op).
        let channelsPerGroup = channels / groups
        let w = weight?.scalars, b = bias?.scalars
        return producing(shape) { x, out in
            Parallel.forEach(batch * channels, minChunk: Swift.max(1, memoryBoundMinChunk / Swift.max(1, spatial))) { range in
                for row in range {
                    let n = row / channels, c = row % channels, g = n * groups + c / channelsPerGroup
                    let a = (w?[c] ?? 1) * invStd[g]
                    let shift = (b?[c] ?? 0) - mean[g] * a
                    Tensor.affineRow(x + row * spatial, out + row * spatial, spatial, a, shift, silu: applyingSiLU)
                }
            }
        }
    }

    /// Layer normalization over the last dimension (PyTorch `nn.LayerNorm(D)`): weight and bias are
    /// `[D]` (optional); biased variance.
    public func layerNorm(weight: Tensor?, bias: Tensor?, epsilon: Float) -> Tensor {
        precondition(rank >= 1, "layerNorm: scalar input")
        let width = shape[rank - 1]
        if let weight { precondition(weight.count == width, "layerNorm: weight \(weight.shape) for shape \(shape)") }
        if let bias { precondition(bias.count == width, "layerNorm: bias \(bias.shape) for shape \(shape)") }
        let rows = count / Swift.max(1, width)
        let ones = Tensor(shape: [width], repeating: 1), zeros = Tensor(shape: [width], repeating: 0)
        let w = weight ?? ones, b = bias ?? zeros
        return producing(shape) { x, out in
            w.withUnsafeBufferPointer { wb in
                b.withUnsafeBufferPointer { bb in
                    let wp = wb.baseAddress!, bp = bb.baseAddress!
                    Parallel.forEach(rows, minChunk: Swift.max(1, memoryBoundMinChunk / 4 / Swift.max(1, width))) { range in
                        for r in range {
                            let src = x + r * width, dst = out + r * width
                            let (mu, variance) = Tensor.meanAndVariance(src, width)
                            let m = Float(mu), inv = Float(1 / (variance + Double(epsilon)).squareRoot())
                            let vm = SIMD16<Float>(repeating: m), vi = SIMD16<Float>(repeating: inv)
                            var i = 0
                            while i + vectorWidth <= width {
                                let v = (loadVector(src, i) - vm) * vi
                                storeVector(v * loadVector(wp, i) + loadVector(bp, i), dst, i)
                                i += vectorWidth
                            }
                            while i < width {
                                dst[i] = (src[i] - m) * inv * wp[i] + bp[i]
                                i += 1
                            }
                        }
                    }
                }
            }
        }
    }

    /// Mean and biased variance of `n` contiguous floats, two-pass (see `SIMDMath.meanAndVariance`),
    /// with the AVX-512 build of the same loop where the CPU has it.
    static func meanAndVariance(_ x: UnsafePointer<Float>, _ n: Int) -> (Double, Double) {
        #if arch(x86_64)
        if CPUKernels.active >= .avx512f { return AVX512Rows.meanAndVariance(x, n) }
        if CPUKernels.active >= .avx2 { return AVX2Rows.meanAndVariance(x, n) }
        #endif
        return SIMDMath.meanAndVariance(x, n)
    }

    /// dst = src·a + b over one channel row, optionally followed by SiLU (see `SIMDMath.affineRow`).
    @inline(__always) static func affineRow(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ a: Float, _ b: Float, silu: Bool
    ) {
        #if arch(x86_64)
        if CPUKernels.active >= .avx512f { return AVX512Rows.affineRow(src, dst, n, a, b, silu: silu) }
        if CPUKernels.active >= .avx2 { return AVX2Rows.affineRow(src, dst, n, a, b, silu: silu) }
        #endif
        SIMDMath.affineRow(src, dst, n, a, b, silu: silu)
    }
}
