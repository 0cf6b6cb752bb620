/// Concatenation along an axis.
extension Tensor {
    /// Concatenates tensors along `axis` (negative counts from the end). All other dimensions must
    /// match; the UNet joins skip connections with `Tensor.concat([h, skip], axis: 1)`.
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concat: no tensors")
        let first = tensors[0]
        let a = first.normalizedAxis(axis, "concat")
        var outShape = first.shape
        outShape[a] = 0
        for t in tensors {
            precondition(
                t.rank == first.rank && (0..<t.rank).allSatisfy { $0 == a || t.shape[$0] == first.shape[$0] },
                "concat: shapes \(tensors.map(\.shape)) differ outside axis \(axis)")
            outShape[a] += t.shape[a]
        }
        // View everything as [outer, shape[axis]·inner]: each output row is the tensors' rows in turn.
        let outer = first.shape[..<a].reduce(1, *)
        let inner = first.shape[(a + 1)...].reduce(1, *)
        let runs = tensors.map { $0.shape[a] * inner }
        let outRow = runs.reduce(0, +)
        let sources = tensors.map { UnsafePointer($0.storage.pointer) }
        var out = Tensor(uninitializedShape: outShape)
        out.withUnsafeMutableBufferPointer { o in
            let dst = o.baseAddress!
            Parallel.forEach(outer, minChunk: Swift.max(1, memoryBoundMinChunk / Swift.max(1, outRow))) { range in
                for r in range {
                    var offset = r * outRow
                    for k in 0..<sources.count {
                        (dst + offset).update(from: sources[k] + r * runs[k], count: runs[k])
                        offset += runs[k]
                    }
                }
            }
        }
        withExtendedLifetime(tensors) {}
        return out
    }

    /// Concatenates tensors along `axis`; see the array form.
    public static func concat(_ tensors: Tensor..., axis: Int) -> Tensor { concat(tensors, axis: axis) }
}
