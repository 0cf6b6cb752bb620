import Foundation

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

    /// Mean and biased variance of `n` contiguous floats, two-pass. Float SIMD partial sums cover at
    /// most `block` elements (16 lanes × 256 adds) before being added into Double.
    static func meanAndVariance(_ x: UnsafePointer<Float>, _ n: Int) -> (Double, Double) {
        guard n > 0 else { return (0, 0) }
        let block = 4096
        var total = 0.0
        var start = 0
        while start < n {
            let end = Swift.min(start + block, n)
            var acc = SIMD16<Float>(repeating: 0)
            var i = start
            while i + vectorWidth <= end {
                acc += loadVector(x, i)
                i += vectorWidth
            }
            var partial = Double(acc.sum())
            while i < end {
                partial += Double(x[i])
                i += 1
            }
            total += partial
            start = end
        }
        let mean = total / Double(n)
        let m = Float(mean), vm = SIMD16<Float>(repeating: m)
        var squares = 0.0
        start = 0
        while start < n {
            let end = Swift.min(start + block, n)
            var acc = SIMD16<Float>(repeating: 0)
            var i = start
            while i + vectorWidth <= end {
                let d = loadVector(x, i) - vm
                acc += d * d
                i += vectorWidth
            }
            var partial = Double(acc.sum())
            while i < end {
                let d = Double(x[i]) - mean
                partial += d * d
                i += 1
            }
            squares += partial
            start = end
        }
        // Centering on the Float-rounded mean leaves a bias of (mean − m)²; remove it exactly.
        let offset = mean - Double(m)
        return (mean, Swift.max(0, squares / Double(n) - offset * offset))
    }

    /// dst = src·a + b over one channel row, optionally followed by SiLU.
    @inline(__always) static func affineRow(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ a: Float, _ b: Float, silu: Bool
    ) {
        let va = SIMD16<Float>(repeating: a), vb = SIMD16<Float>(repeating: b)
        var i = 0
        if silu {
            while i + vectorWidth <= n {
                let y = loadVector(src, i) * va + vb
                storeVector(y * VectorMath.sigmoid(y), dst, i)
                i += vectorWidth
            }
            if i < n {
                // Zero-padded tail through the same vector path, as `mapVectors` does.
                var v = SIMD16<Float>(repeating: 0)
                for j in 0..<(n - i) { v[j] = src[i + j] }
                let y = v * va + vb
                let r = y * VectorMath.sigmoid(y)
                for j in 0..<(n - i) { dst[i + j] = r[j] }
            }
        } else {
            while i + vectorWidth <= n {
                storeVector(loadVector(src, i) * va + vb, dst, i)
                i += vectorWidth
            }
            while i < n {
                dst[i] = src[i] * a + b
                i += 1
            }
        }
    }
}
