import Tensor

/// The caller's "stop now" for a generation, checked where a step callback cannot be: between
/// the text encoder's chunk groups and between the prompt encodes (the sampler's steps report to
/// `progress`, whose throwing stops them). Set task-locally around `generate` by whoever can
/// cancel (the server's job queue); nil never cancels.
public final class GenerationCancellation: Sendable {
    let isCancelled: @Sendable () -> Bool

    public init(_ isCancelled: @escaping @Sendable () -> Bool) {
        self.isCancelled = isCancelled
    }

    @TaskLocal static var current: GenerationCancellation?

    /// Runs `body` (a `generate`) stopping with `GenerationError.cancelled` once `isCancelled`
    /// says so.
    public func withValue<R>(_ body: () throws -> R) rethrows -> R {
        try Self.$current.withValue(self) { try body() }
    }

    /// - Throws: `GenerationError.cancelled` once the caller has asked to stop.
    static func check() throws {
        if current?.isCancelled() == true { throw GenerationError.cancelled }
    }
}

extension CLIPTextEncoder {
    /// Chunks encoded `group` at a time, with a cancellation check before each group, so a long
    /// prompt (up to `--max-prompt-chunks`) can be stopped inside its encode; a prompt of at most
    /// `group` chunks is one pass, as before.
    /// - Throws: `GenerationError.cancelled`.
    func encode(
        _ chunks: [[Int]], skip: Int, finalLayerNorm: Bool, pooled: Bool, embeddings: Tensor? = nil, group: Int = 4
    ) throws -> (hidden: Tensor, pooled: Tensor?) {
        var hidden: [Tensor] = [], pooledRows: [Tensor] = []
        for start in stride(from: 0, to: chunks.count, by: group) {
            try GenerationCancellation.check()
            let part = self(Array(chunks[start..<min(start + group, chunks.count)]), skip: skip, finalLayerNorm: finalLayerNorm, pooled: pooled, embeddings: embeddings)
            hidden.append(part.hidden)
            if let p = part.pooled { pooledRows.append(p) }
        }
        if hidden.count == 1 { return (hidden[0], pooledRows.first) }
        // [k_i, 77, D] per group -> [k, 77, D]; pooled [k_i, P] -> [k, P]
        return (Tensor.concat(hidden, axis: 0), pooledRows.isEmpty ? nil : Tensor.concat(pooledRows, axis: 0))
    }
}
