/// Whole-tensor reductions, accumulated in Double (tests, samplers, diagnostics).
extension Tensor {
    /// Sum of all elements.
    public func sum() -> Float { Float(sumOf { $0 }) }

    /// Mean of all elements (NaN for an empty tensor).
    public func mean() -> Float { Float(sumOf { $0 } / Double(count)) }

    /// Mean of the absolute values (diffusers' sampler tests compare `abs().mean()`).
    public func meanAbsolute() -> Float { Float(sumOf { Swift.abs($0) } / Double(count)) }

    /// Standard deviation of all elements; `unbiased` divides by n − 1 as `torch.std` does by default.
    public func standardDeviation(unbiased: Bool = true) -> Float {
        let n = Double(count)
        let mean = sumOf { $0 } / n
        let squares = sumOf { ($0 - mean) * ($0 - mean) }
        return Float((squares / (unbiased ? n - 1 : n)).squareRoot())
    }

    /// Smallest element (+∞ for an empty tensor; NaN elements are ignored).
    public func min() -> Float { withUnsafeBufferPointer { $0.reduce(Float.infinity) { Swift.min($0, $1) } } }

    /// Largest element (−∞ for an empty tensor; NaN elements are ignored).
    public func max() -> Float { withUnsafeBufferPointer { $0.reduce(-Float.infinity) { Swift.max($0, $1) } } }

    /// Σ f(x) in Double over at most 64 fixed chunks whose partial sums are combined in order, so the
    /// result depends neither on timing nor on `Parallel.threadCount`.
    func sumOf(_ f: (Double) -> Double) -> Double {
        let n = count
        let chunks = Swift.max(1, Swift.min(64, n / memoryBoundMinChunk))
        var partials = [Double](repeating: 0, count: chunks)
        withUnsafeBufferPointer { xb in
            let x = xb.baseAddress!
            partials.withUnsafeMutableBufferPointer { pb in
                let p = pb.baseAddress!
                Parallel.forEach(chunks) { range in
                    for c in range {
                        var s = 0.0
                        for i in (n * c / chunks)..<(n * (c + 1) / chunks) { s += f(Double(x[i])) }
                        p[c] = s
                    }
                }
            }
        }
        return partials.reduce(0, +)
    }
}
