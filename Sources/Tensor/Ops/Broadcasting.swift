/// NumPy broadcasting for binary element-wise ops, reduced to a plan the kernels can loop over.
///
/// Shapes are aligned on the right; each dimension must match or be 1 in one operand. The plan
/// drops output dimensions of size 1 and merges neighbours that are contiguous in both operands,
/// so `[B, C, H, W] + [1, C, 1, 1]` becomes a `[B·C, H·W]` loop whose inner run adds one scalar,
/// and same-shape operands become a single flat run.
struct BroadcastPlan {
    /// Broadcast output shape (uncoalesced), as the result tensor will have it.
    let outputShape: [Int]
    /// Coalesced loop dimensions, outermost first; empty for a one-element output.
    let dims: [Int]
    /// Element strides of each operand along `dims`; 0 where that operand is broadcast.
    let aStrides: [Int]
    let bStrides: [Int]

    init(_ aShape: [Int], _ bShape: [Int], op: String) {
        let rank = max(aShape.count, bShape.count)
        let a = Array(repeating: 1, count: rank - aShape.count) + aShape
        let b = Array(repeating: 1, count: rank - bShape.count) + bShape
        var out = [Int](repeating: 1, count: rank)
        for d in 0..<rank {
            precondition(
                a[d] == b[d] || a[d] == 1 || b[d] == 1,
                "\(op): shapes \(aShape) and \(bShape) do not broadcast")
            out[d] = a[d] == 1 ? b[d] : a[d]
        }
        outputShape = out

        // Contiguous strides of each operand in its right-aligned shape, zeroed where broadcast.
        var aStride = [Int](repeating: 0, count: rank), bStride = aStride
        var sa = 1, sb = 1
        for d in stride(from: rank - 1, through: 0, by: -1) {
            aStride[d] = a[d] == 1 ? 0 : sa
            bStride[d] = b[d] == 1 ? 0 : sb
            sa *= a[d]
            sb *= b[d]
        }

        var dims: [Int] = [], sA: [Int] = [], sB: [Int] = []
        for d in 0..<rank where out[d] != 1 {
            if let last = dims.indices.last,
                sA[last] == aStride[d] * out[d], sB[last] == bStride[d] * out[d]
            {
                // The previous dimension steps over exactly this one in both operands: merge.
                dims[last] *= out[d]
                sA[last] = aStride[d]
                sB[last] = bStride[d]
            } else {
                dims.append(out[d])
                sA.append(aStride[d])
                sB.append(bStride[d])
            }
        }
        self.dims = dims
        aStrides = sA
        bStrides = sB
    }
}

/// A binary element-wise operation, in vector and scalar form; generic kernels specialize on it so
/// the operation is chosen once per call, not per element.
protocol BinaryKernel {
    static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float>
    static func apply(_ a: Float, _ b: Float) -> Float
}

enum AddKernel: BinaryKernel {
    @inline(__always) static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a + b }
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b }
}

enum SubtractKernel: BinaryKernel {
    @inline(__always) static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a - b }
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b }
}

enum MultiplyKernel: BinaryKernel {
    @inline(__always) static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a * b }
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b }
}

enum DivideKernel: BinaryKernel {
    @inline(__always) static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a / b }
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a / b }
}

enum BroadcastKernels {
    /// Runs `K` over a plan. `out` may alias `a` when `a` has the output's shape (in-place ops).
    static func run<K: BinaryKernel>(
        _: K.Type, _ plan: BroadcastPlan,
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>
    ) {
        let dims = plan.dims
        guard let n = dims.last else {
            out[0] = K.apply(a[0], b[0])  // every dimension is 1: a single element
            return
        }
        let innerA = plan.aStrides[dims.count - 1], innerB = plan.bStrides[dims.count - 1]
        if dims.count == 1 {
            // One flat run (same shapes, or a one-element operand): split the run itself.
            Parallel.forEach(n, minChunk: memoryBoundMinChunk) { range in
                let aBase = a + range.lowerBound * innerA, bBase = b + range.lowerBound * innerB
                row(K.self, aBase, innerA, bBase, innerB, out + range.lowerBound, range.count)
            }
            return
        }
        // Several rows: split rows across threads and walk the outer dimensions like an odometer
        // inside each chunk, so no division happens per row after the first.
        let rows = dims.dropLast().reduce(1, *)
        let outer = dims.count - 1
        Parallel.forEach(rows, minChunk: max(1, memoryBoundMinChunk / n)) { range in
            var index = [Int](repeating: 0, count: outer)
            var rest = range.lowerBound, aOffset = 0, bOffset = 0
            for d in stride(from: outer - 1, through: 0, by: -1) {
                index[d] = rest % dims[d]
                rest /= dims[d]
                aOffset += index[d] * plan.aStrides[d]
                bOffset += index[d] * plan.bStrides[d]
            }
            for r in range {
                row(K.self, a + aOffset, innerA, b + bOffset, innerB, out + r * n, n)
                var d = outer - 1
                while d >= 0 {
                    index[d] += 1
                    aOffset += plan.aStrides[d]
                    bOffset += plan.bStrides[d]
                    if index[d] < dims[d] { break }
                    aOffset -= dims[d] * plan.aStrides[d]
                    bOffset -= dims[d] * plan.bStrides[d]
                    index[d] = 0
                    d -= 1
                }
            }
        }
    }

    /// One contiguous output run of `n` elements; each input is either contiguous (stride 1) or a
    /// single repeated value (stride 0).
    @inline(__always) static func row<K: BinaryKernel>(
        _: K.Type, _ a: UnsafePointer<Float>, _ strideA: Int, _ b: UnsafePointer<Float>, _ strideB: Int,
        _ out: UnsafeMutablePointer<Float>, _ n: Int
    ) {
        var i = 0
        switch (strideA, strideB) {
        case (1, 1):
            while i + vectorWidth <= n {
                storeVector(K.apply(loadVector(a, i), loadVector(b, i)), out, i)
                i += vectorWidth
            }
            while i < n {
                out[i] = K.apply(a[i], b[i])
                i += 1
            }
        case (0, _):
            let s = a[0], v = SIMD16<Float>(repeating: s)
            while i + vectorWidth <= n {
                storeVector(K.apply(v, loadVector(b, i)), out, i)
                i += vectorWidth
            }
            while i < n {
                out[i] = K.apply(s, b[i])
                i += 1
            }
        default:
            let s = b[0], v = SIMD16<Float>(repeating: s)
            while i + vectorWidth <= n {
                storeVector(K.apply(loadVector(a, i), v), out, i)
                i += vectorWidth
            }
            while i < n {
                out[i] = K.apply(a[i], s)
                i += 1
            }
        }
    }
}
