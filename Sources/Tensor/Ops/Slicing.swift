/// Contiguous sub-ranges along one axis (copies; `Tensor` has no strided views).
extension Tensor {
    /// Elements `start ..< start + length` along `axis`, as `torch.narrow`.
    public func narrowed(axis: Int, start: Int, length: Int) -> Tensor {
        let a = normalizedAxis(axis, "narrowed")
        precondition(
            start >= 0 && length >= 0 && start + length <= shape[a],
            "narrowed: \(start)..<\(start + length) out of dimension \(a) of \(shape)")
        var outShape = shape
        outShape[a] = length
        // View as [outer, shape[axis]·inner]; each output row is one contiguous run of each input row.
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        let inRow = shape[a] * inner, run = length * inner, skip = start * inner
        return producing(outShape) { x, out in
            Parallel.forEach(outer, minChunk: Swift.max(1, memoryBoundMinChunk / Swift.max(1, run))) { range in
                for r in range { (out + r * run).update(from: x + r * inRow + skip, count: run) }
            }
        }
    }

    /// Splits along `axis` into `count` pieces, as `torch.chunk`: each piece has
    /// ⌈size / count⌉ elements along the axis except a smaller last one (fewer pieces come back when
    /// the size does not fill them all, as in PyTorch).
    public func chunked(_ count: Int, axis: Int) -> [Tensor] {
        let a = normalizedAxis(axis, "chunked")
        precondition(count > 0, "chunked: count \(count)")
        let size = shape[a]
        let step = Swift.max(1, (size + count - 1) / count)
        return stride(from: 0, to: size, by: step).map { start in
            narrowed(axis: a, start: start, length: Swift.min(step, size - start))
        }
    }
}
