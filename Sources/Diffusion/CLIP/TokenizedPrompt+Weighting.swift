import Tensor

extension TokenizedPrompt {
    /// Applies the prompt's token weights to the text encoder's output, chunk by chunk, restoring
    /// each chunk's mean.
    ///
    /// Matches stable-diffusion.cpp `apply_token_weights` (A1111's scheme, engine-reference 5): per
    /// chunk `mu0 = mean(H)`, `H[t, :] *= w_t`, `mu1 = mean(H)`, `H *= mu0 / mu1`. A chunk whose
    /// weights are all 1 is left untouched, and the rescale is skipped when `mu0` or `mu1` is not
    /// finite or `mu1` is 0.
    /// - Parameter hiddenStates: `[chunkCount * 77, D]` or `[1, chunkCount * 77, D]` (for SDXL the
    ///   two towers' states concatenated to D = 2048).
    public func applyingWeights(to hiddenStates: Tensor) -> Tensor {
        Self.applyingWeights(weights, to: hiddenStates)
    }

    /// `applyingWeights(to:)` for any per-token weights: `weights.count` (a multiple of 77) must
    /// equal the number of rows of `hiddenStates`.
    public static func applyingWeights(_ weights: [Float], to hiddenStates: Tensor) -> Tensor {
        let rows = weights.count
        let shape = hiddenStates.shape
        precondition(
            rows % chunkLength == 0 && shape.count >= 2 && shape.dropLast().reduce(1, *) == rows,
            "applyingWeights: \(rows) weights for hidden states \(shape)")
        guard weights.contains(where: { $0 != 1 }) else { return hiddenStates }
        let states = hiddenStates.reshaped([rows, shape[shape.count - 1]])  // [..., T, D] -> [T, D]
        var chunks: [Tensor] = []
        for chunk in 0..<(rows / chunkLength) {
            var h = states.narrowed(axis: 0, start: chunk * chunkLength, length: chunkLength)  // [77, D]
            let w = Array(weights[(chunk * chunkLength)..<((chunk + 1) * chunkLength)])
            if w.contains(where: { $0 != 1 }) {
                let mean0 = h.mean()
                h = h * Tensor(shape: [chunkLength, 1], values: w)  // [77, D] * [77, 1]: row t times w_t
                let mean1 = h.mean()
                if mean0.isFinite && mean1.isFinite && mean1 != 0 { h = h.scaled(by: mean0 / mean1) }
            }
            chunks.append(h)
        }
        return Tensor.concat(chunks, axis: 0).reshaped(shape)  // k x [77, D] -> [k*77, D] -> input shape
    }
}
