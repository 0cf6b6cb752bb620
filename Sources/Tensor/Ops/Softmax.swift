/// Softmax over the last dimension.
extension Tensor {
    /// Softmax over the last dimension, numerically stable: each row is shifted by its maximum
    /// before exponentiation, so rows with values around 1000 do not overflow.
    public func softmax() -> Tensor {
        precondition(rank >= 1, "softmax: scalar input")
        let width = shape[rank - 1]
        let rows = count / Swift.max(1, width)
        var out = self
        out.withUnsafeMutableBufferPointer { p in SoftmaxKernel.rows(p.baseAddress!, rows: rows, width: width) }
        return out
    }

    /// Softmax over the last dimension in place, reusing this tensor's buffer when it is unshared
    /// (attention scores are the typical caller).
    public mutating func formSoftmax() {
        precondition(rank >= 1, "formSoftmax: scalar input")
        let width = shape[rank - 1]
        let rows = count / Swift.max(1, width)
        withUnsafeMutableBufferPointer { p in SoftmaxKernel.rows(p.baseAddress!, rows: rows, width: width) }
    }
}

/// Row softmax on raw buffers, for kernels (attention) that own a scores buffer.
enum SoftmaxKernel {
    /// Replaces each of `rows` contiguous rows of `width` floats by its softmax, in parallel over rows.
    static func rows(_ p: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        guard width > 0 else { return }
        Parallel.forEach(rows, minChunk: Swift.max(1, transcendentalMinChunk / width)) { range in
            for r in range { row(p + r * width, width) }
        }
    }

    /// Softmax of one row in place: max, exp(x − max) with its sum, then scale by 1/sum.
    static func row(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var vmax = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i + vectorWidth <= n {
            vmax = vectorMax(vmax, loadVector(x, i))
            i += vectorWidth
        }
        var m = vmax.max()
        while i < n {
            m = Swift.max(m, x[i])
            i += 1
        }
        // A row of all −∞ (fully masked) would give NaN from ∞ − ∞; emit zeros instead, as a
        // masked attention row should contribute nothing.
        if m == -.infinity {
            x.update(repeating: 0, count: n)
            return
        }
        let vm = SIMD16<Float>(repeating: m)
        var vsum = SIMD16<Float>(repeating: 0)
        i = 0
        while i + vectorWidth <= n {
            let e = VectorMath.exp(loadVector(x, i) - vm)
            storeVector(e, x, i)
            vsum += e
            i += vectorWidth
        }
        var sum = vsum.sum()
        if i < n {
            // Tail through the vector exp as well; padding with −∞ makes the extra lanes e = 0.
            var v = SIMD16<Float>(repeating: -.infinity)
            for j in 0..<(n - i) { v[j] = x[i + j] }
            let e = VectorMath.exp(v - vm)
            for j in 0..<(n - i) {
                x[i + j] = e[j]
                sum += e[j]
            }
        }
        let inv = 1 / sum, vinv = SIMD16<Float>(repeating: inv)
        i = 0
        while i + vectorWidth <= n {
            storeVector(loadVector(x, i) * vinv, x, i)
            i += vectorWidth
        }
        while i < n {
            x[i] *= inv
            i += 1
        }
    }
}
