/// Root-mean-square normalization (T5's `T5LayerNorm`, also LLaMA's `RMSNorm`).
extension Tensor {
    /// y = weight · x / sqrt(mean(x²) + epsilon) over the last dimension, with `weight` [D]: no mean
    /// subtraction and no bias, as transformers `T5LayerNorm` (which takes the mean of squares in
    /// f32; here it is summed in Double, within an ulp of it).
    public func rmsNorm(weight: Tensor, epsilon: Float) -> Tensor {
        precondition(rank >= 1, "rmsNorm: scalar input")
        let width = shape[rank - 1]
        precondition(weight.count == width, "rmsNorm: weight \(weight.shape) for shape \(shape)")
        let rows = count / Swift.max(1, width)
        return producing(shape) { x, out in
            weight.withUnsafeBufferPointer { wb in
                guard let w = wb.baseAddress else { return }
                Parallel.forEach(rows, minChunk: Swift.max(1, memoryBoundMinChunk / 4 / Swift.max(1, width))) { range in
                    for r in range {
                        let src = x + r * width, dst = out + r * width
                        var sum = 0.0
                        for i in 0..<width { sum += Double(src[i]) * Double(src[i]) }
                        let inverse = Float(1 / (sum / Double(width) + Double(epsilon)).squareRoot())
                        // transformers' order: (x · rsqrt) first, then · weight.
                        for i in 0..<width { dst[i] = w[i] * (src[i] * inverse) }
                    }
                }
            }
        }
    }
}
