/// Axis permutation (the only op here that moves data non-contiguously).
extension Tensor {
    /// The tensor with its dimensions reordered: result dimension `i` is input dimension `axes[i]`,
    /// as `torch.permute`. Model code uses it for `[B, C, H·W] -> [B, H·W, C]` and attention heads.
    public func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.count == rank, "permuted: axes \(axes) for shape \(shape)")
        let axes = axes.map { $0 < 0 ? $0 + rank : $0 }
        precondition(axes.sorted() == Array(0..<rank), "permuted: \(axes) is not a permutation of 0..<\(rank)")
        let outShape = axes.map { shape[$0] }

        // Input strides, then coalesce output dimensions that are adjacent and in order in the input
        // (and drop size-1 ones), so [B, C, H, W] -> [B, H, W, C] becomes a batched [C, H·W] transpose.
        var inStrides = [Int](repeating: 1, count: rank)
        for d in stride(from: rank - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * shape[d + 1] }
        var dims: [Int] = [], strides: [Int] = []
        for d in 0..<rank where outShape[d] != 1 {
            let s = inStrides[axes[d]]
            if let last = dims.indices.last, strides[last] == s * outShape[d] {
                dims[last] *= outShape[d]
                strides[last] = s
            } else {
                dims.append(outShape[d])
                strides.append(s)
            }
        }
        if dims.count <= 1 {
            return reshaped(outShape)  // the order of elements does not change
        }
        return producing(outShape) { x, out in
            if strides.last == 1 {
                Tensor.permuteRows(x, out, dims, strides)
            } else {
                Tensor.permuteTiled(x, out, dims, strides)
            }
        }
    }

    /// The tensor with its dimensions reordered; see the array form.
    public func permuted(_ axes: Int...) -> Tensor { permuted(axes) }

    /// Swaps two dimensions (`torch.transpose(x, a, b)`).
    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        let a = normalizedAxis(a, "transposed"), b = normalizedAxis(b, "transposed")
        var axes = Array(0..<rank)
        axes.swapAt(a, b)
        return permuted(axes)
    }

    /// Matrix transpose of a 2-D tensor: `[M, N] -> [N, M]`.
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed(): expected a 2-D tensor, got \(shape)")
        return permuted(1, 0)
    }

    /// The innermost output dimension is contiguous in the input: copy runs of `dims.last` floats.
    static func permuteRows(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ dims: [Int], _ strides: [Int]) {
        let n = dims[dims.count - 1]
        let outer = Array(dims.dropLast()), outerStrides = Array(strides.dropLast())
        let rows = outer.reduce(1, *)
        Parallel.forEach(rows, minChunk: Swift.max(1, memoryBoundMinChunk / n)) { range in
            for r in range {
                (out + r * n).update(from: x + offset(of: r, outer, outerStrides), count: n)
            }
        }
    }

    /// General case, tiled: the output's innermost dimension (input stride ≠ 1) and the dimension
    /// that is contiguous in the input are walked in 32×32 tiles so both sides touch whole cache
    /// lines; every other dimension is an outer loop.
    static func permuteTiled(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ dims: [Int], _ strides: [Int]) {
        let k = dims.count
        // After coalescing, the input's innermost dimension is one of the output dimensions.
        guard let p = strides.firstIndex(of: 1) else {
            preconditionFailure("permuted: no contiguous dimension in \(dims) / \(strides)")
        }
        var outStrides = [Int](repeating: 1, count: k)
        for d in stride(from: k - 2, through: 0, by: -1) { outStrides[d] = outStrides[d + 1] * dims[d + 1] }
        let rowsDim = dims[p], colsDim = dims[k - 1]  // tile rows: contiguous in input; columns: in output
        let rowStrideOut = outStrides[p], colStrideIn = strides[k - 1]
        let others = (0..<k).filter { $0 != p && $0 != k - 1 }
        let otherDims = others.map { dims[$0] }
        let otherIn = others.map { strides[$0] }, otherOut = others.map { outStrides[$0] }
        let outerCount = otherDims.reduce(1, *)
        let tile = 32
        let rowTiles = (rowsDim + tile - 1) / tile
        let tileElements = tile * colsDim
        Parallel.forEach(outerCount * rowTiles, minChunk: Swift.max(1, memoryBoundMinChunk / Swift.max(1, tileElements))) {
            range in
            for task in range {
                let o = task / rowTiles, rowStart = (task % rowTiles) * tile
                let rowEnd = Swift.min(rowStart + tile, rowsDim)
                let src = x + offset(of: o, otherDims, otherIn)
                let dst = out + offset(of: o, otherDims, otherOut)
                var colStart = 0
                while colStart < colsDim {
                    let colEnd = Swift.min(colStart + tile, colsDim)
                    for i in rowStart..<rowEnd {
                        let s = src + i, d = dst + i * rowStrideOut
                        for j in colStart..<colEnd { d[j] = s[j * colStrideIn] }
                    }
                    colStart = colEnd
                }
            }
        }
    }

    /// Offset of the `index`-th element of a row-major walk over `dims`, with element `strides`.
    @inline(__always) static func offset(of index: Int, _ dims: [Int], _ strides: [Int]) -> Int {
        var rest = index, offset = 0
        for d in stride(from: dims.count - 1, through: 0, by: -1) {
            offset += rest % dims[d] * strides[d]
            rest /= dims[d]
        }
        return offset
    }
}
