/// Row gathers straight from an encoded table, for embeddings whose full Float32 form would be
/// large (bigG's token table is 49408 x 1280: 253 MB in Float32, 126 MB as stored f16).
extension StoredTensor {
    /// Decodes rows `ids` of a `[rows, width]` table into `[ids.count, width]` Float32, as
    /// `nn.Embedding` does, without decoding the rest of the table. Matches `toTensor().rows(at:)`.
    ///
    /// A row whose ends fall inside a quantization block is decoded through the blocks that cover it.
    public func rows(at ids: [Int]) -> Tensor {
        precondition(shape.count == 2, "rows(at:): expected a [rows, width] table, got '\(name)' \(shape)")
        let (vocab, width) = (shape[0], shape[1])
        for id in ids { precondition(id >= 0 && id < vocab, "rows(at:): id \(id) out of 0..<\(vocab) for '\(name)' \(shape)") }
        var out = Tensor(uninitializedShape: [ids.count, width])
        let block = dtype.blockSize
        out.withUnsafeMutableBufferPointer { dst in
            guard let base = dst.baseAddress, width > 0 else { return }
            if width % block == 0 {
                for (i, id) in ids.enumerated() { decode(elements: id * width..<(id + 1) * width, into: base + i * width) }
                return
            }
            // Rows are not block-aligned: decode the covering blocks into scratch and copy the row.
            var scratch = [Float](repeating: 0, count: width + 2 * block)
            scratch.withUnsafeMutableBufferPointer { s in
                guard let scratchBase = s.baseAddress else { return }
                for (i, id) in ids.enumerated() {
                    let start = id * width, lower = start / block * block
                    let upper = ((start + width + block - 1) / block) * block
                    decode(elements: lower..<upper, into: scratchBase)
                    (base + i * width).update(from: scratchBase + (start - lower), count: width)
                }
            }
        }
        return out
    }
}
