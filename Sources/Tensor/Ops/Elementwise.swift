/// Element-wise arithmetic with NumPy broadcasting, scalar scaling and the fused weighted sums that
/// samplers use. All kernels run SIMD16 over the innermost run with a scalar tail and split large
/// tensors across `Parallel` workers.
extension Tensor {
    // MARK: Binary ops with broadcasting

    static func broadcasting<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _ kernel: K.Type, _ op: String) -> Tensor {
        let plan = BroadcastPlan(a.shape, b.shape, op: op)
        return a.producing(plan.outputShape) { pa, out in
            b.withUnsafeBufferPointer { pb in BroadcastKernels.run(K.self, plan, pa, pb.baseAddress!, out) }
        }
    }

    /// Applies `K` in place; `rhs` must broadcast to `lhs.shape` (the result keeps lhs's shape).
    static func broadcastingInPlace<K: BinaryKernel>(_ lhs: inout Tensor, _ rhs: Tensor, _ kernel: K.Type, _ op: String) {
        let plan = BroadcastPlan(lhs.shape, rhs.shape, op: op)
        precondition(plan.outputShape == lhs.shape, "\(op): \(rhs.shape) does not broadcast into \(lhs.shape)")
        // `x += x` is safe: making lhs unique copies it away from rhs's storage first.
        lhs.withUnsafeMutableBufferPointer { l in
            rhs.withUnsafeBufferPointer { r in
                BroadcastKernels.run(K.self, plan, UnsafePointer(l.baseAddress!), r.baseAddress!, l.baseAddress!)
            }
        }
    }

    /// Element-wise sum with NumPy broadcasting (`[B, C, H, W] + [B, C, 1, 1]`, `+ [W]`, `+ [1]`).
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { broadcasting(lhs, rhs, AddKernel.self, "add") }

    /// Element-wise difference with NumPy broadcasting.
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { broadcasting(lhs, rhs, SubtractKernel.self, "sub") }

    /// Element-wise product with NumPy broadcasting.
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { broadcasting(lhs, rhs, MultiplyKernel.self, "mul") }

    /// Element-wise quotient with NumPy broadcasting.
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { broadcasting(lhs, rhs, DivideKernel.self, "div") }

    /// In-place sum; `rhs` must broadcast to `lhs.shape`. Reuses lhs's buffer when it is unshared.
    public static func += (lhs: inout Tensor, rhs: Tensor) { broadcastingInPlace(&lhs, rhs, AddKernel.self, "add") }

    /// In-place difference; `rhs` must broadcast to `lhs.shape`.
    public static func -= (lhs: inout Tensor, rhs: Tensor) {
        broadcastingInPlace(&lhs, rhs, SubtractKernel.self, "sub")
    }

    /// In-place product; `rhs` must broadcast to `lhs.shape`.
    public static func *= (lhs: inout Tensor, rhs: Tensor) {
        broadcastingInPlace(&lhs, rhs, MultiplyKernel.self, "mul")
    }

    // MARK: Scalars

    /// Every element times `factor`.
    public func scaled(by factor: Float) -> Tensor { affine(scale: factor, shift: 0) }

    /// Every element times `scale`, plus `shift`, in one pass.
    public func affine(scale: Float, shift: Float) -> Tensor {
        producing(shape) { x, out in Tensor.affineKernel(x, out, count, scale, shift) }
    }

    /// Multiplies every element by `factor` in place.
    public mutating func scale(by factor: Float) {
        let n = count
        withUnsafeMutableBufferPointer { p in Tensor.affineKernel(p.baseAddress!, p.baseAddress!, n, factor, 0) }
    }

    static func affineKernel(
        _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ count: Int, _ scale: Float, _ shift: Float
    ) {
        Parallel.forEach(count, minChunk: memoryBoundMinChunk) { range in
            let vs = SIMD16<Float>(repeating: scale), vb = SIMD16<Float>(repeating: shift)
            var i = range.lowerBound
            while i + vectorWidth <= range.upperBound {
                storeVector(loadVector(x, i) * vs + vb, out, i)
                i += vectorWidth
            }
            while i < range.upperBound {
                out[i] = x[i] * scale + shift
                i += 1
            }
        }
    }

    /// Tensor times scalar.
    public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.scaled(by: rhs) }
    /// Scalar times tensor.
    public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs.scaled(by: lhs) }
    /// Tensor divided by scalar: a true division per element (multiplying by the reciprocal could
    /// differ from PyTorch by 1 ulp, which sampler goldens would notice).
    public static func / (lhs: Tensor, rhs: Float) -> Tensor {
        broadcasting(lhs, Tensor(shape: [], values: [rhs]), DivideKernel.self, "div")
    }
    /// Tensor plus scalar.
    public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs.affine(scale: 1, shift: rhs) }
    /// Tensor minus scalar.
    public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs.affine(scale: 1, shift: -rhs) }
    /// Negation.
    public static prefix func - (x: Tensor) -> Tensor { x.scaled(by: -1) }
    /// In-place scaling.
    public static func *= (lhs: inout Tensor, rhs: Float) { lhs.scale(by: rhs) }

    /// Elements clamped to `[lower, upper]` (e.g. the VAE output to [-1, 1]).
    public func clamped(min lower: Float, max upper: Float) -> Tensor {
        precondition(lower <= upper, "clamped: min \(lower) > max \(upper)")
        let n = count
        return producing(shape) { x, out in
            Parallel.forEach(n, minChunk: memoryBoundMinChunk) { range in
                let lo = SIMD16<Float>(repeating: lower), hi = SIMD16<Float>(repeating: upper)
                var i = range.lowerBound
                while i + vectorWidth <= range.upperBound {
                    storeVector(vectorMin(vectorMax(loadVector(x, i), lo), hi), out, i)
                    i += vectorWidth
                }
                while i < range.upperBound {
                    out[i] = Swift.min(Swift.max(x[i], lower), upper)
                    i += 1
                }
            }
        }
    }

    // MARK: Fused sums for samplers

    /// `self + factor · other` in one pass (e.g. `x.adding(noise, scaledBy: sigma)`). Same shapes.
    public func adding(_ other: Tensor, scaledBy factor: Float) -> Tensor {
        Tensor.weightedSum([(1, self), (factor, other)])
    }

    /// `self += factor · other` in place, reusing self's buffer when it is unshared. Same shapes.
    public mutating func add(_ other: Tensor, scaledBy factor: Float) {
        precondition(shape == other.shape, "add(_:scaledBy:): \(shape) vs \(other.shape)")
        let n = count
        withUnsafeMutableBufferPointer { p in
            other.withUnsafeBufferPointer { q in
                let x = p.baseAddress!, y = q.baseAddress!
                Parallel.forEach(n, minChunk: memoryBoundMinChunk) { range in
                    let f = SIMD16<Float>(repeating: factor)
                    var i = range.lowerBound
                    while i + vectorWidth <= range.upperBound {
                        storeVector(loadVector(x, i) + f * loadVector(y, i), x, i)
                        i += vectorWidth
                    }
                    while i < range.upperBound {
                        x[i] += factor * y[i]
                        i += 1
                    }
                }
            }
        }
    }

    /// Σ wᵢ·tᵢ over same-shaped tensors in one pass over memory, e.g.
    /// `Tensor.weightedSum((1, x), (dt, d))` for an Euler step. Samplers are memory-bound, so this
    /// beats chaining `+` and `*` (which write a temporary per operator).
    public static func weightedSum(_ terms: (Float, Tensor)...) -> Tensor { weightedSum(terms) }

    /// Σ wᵢ·tᵢ over same-shaped tensors in one pass; see the variadic form.
    public static func weightedSum(_ terms: [(Float, Tensor)]) -> Tensor {
        precondition(!terms.isEmpty, "weightedSum: no terms")
        let shape = terms[0].1.shape
        for (_, t) in terms {
            precondition(t.shape == shape, "weightedSum: shapes \(terms.map { $0.1.shape }) differ")
        }
        var out = Tensor(uninitializedShape: shape)
        let n = out.count
        let weights = terms.map { $0.0 }
        // Storage pointers stay valid while `terms` holds the tensors; collecting them once avoids a
        // closure nesting depth that grows with the number of terms.
        let sources = terms.map { UnsafePointer($0.1.storage.pointer) }
        out.withUnsafeMutableBufferPointer { o in
            let dst = o.baseAddress!
            Parallel.forEach(n, minChunk: memoryBoundMinChunk) { range in
                // Work in L1-sized blocks: the first term writes the block, later terms accumulate
                // into it while it is still in cache.
                let block = 2048
                var start = range.lowerBound
                while start < range.upperBound {
                    let end = Swift.min(start + block, range.upperBound)
                    for k in 0..<sources.count {
                        let src = sources[k], w = weights[k], vw = SIMD16<Float>(repeating: w)
                        var i = start
                        if k == 0 {
                            while i + vectorWidth <= end {
                                storeVector(vw * loadVector(src, i), dst, i)
                                i += vectorWidth
                            }
                            while i < end {
                                dst[i] = w * src[i]
                                i += 1
                            }
                        } else {
                            while i + vectorWidth <= end {
                                storeVector(loadVector(dst, i) + vw * loadVector(src, i), dst, i)
                                i += vectorWidth
                            }
                            while i < end {
                                dst[i] += w * src[i]
                                i += 1
                            }
                        }
                    }
                    start = end
                }
            }
        }
        withExtendedLifetime(terms) {}
        return out
    }
}
