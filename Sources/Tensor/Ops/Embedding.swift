/// Embedding lookup (row gather).
extension Tensor {
    /// Gathers rows of a `[vocab, dim]` table: `[vocab, dim] -> [ids.count, dim]`, as
    /// `nn.Embedding` (CLIP token and position embeddings). Ids must be in `0..<vocab`.
    public func rows(at ids: [Int]) -> Tensor {
        precondition(rank == 2, "rows(at:): expected a [vocab, dim] table, got \(shape)")
        let (vocab, dim) = (shape[0], shape[1])
        for id in ids { precondition(id >= 0 && id < vocab, "rows(at:): id \(id) out of 0..<\(vocab) for table \(shape)") }
        return producing([ids.count, dim]) { table, out in
            for (i, id) in ids.enumerated() {
                (out + i * dim).update(from: table + id * dim, count: dim)
            }
        }
    }
}
