import Tensor

/// The gated-GELU feed-forward of T5 v1.1 (transformers `T5DenseGatedActDense` with `gelu_new`,
/// stable-diffusion.cpp `T5DenseGatedActDense`): wo(gelu_tanh(wi_0 x) · wi_1 x), no biases.
///
/// Keys are relative to `encoder.block.N.layer.1.DenseReluDense`: `wi_0`, `wi_1` [F, D], `wo` [D, F].
/// T5 v1.0's ungated ReLU form (`wi`) is refused: neither SD3 nor FLUX uses it.
struct T5FeedForward: Sendable {
    let gate: Linear  // wi_0 (through the activation)
    let up: Linear  // wi_1
    let down: Linear  // wo

    init(_ w: Weights, modelWidth: Int, width: Int?) throws {
        guard !w.contains("wi") else {
            throw WeightError.badShape(
                file: w.index.source, tensor: w.key("wi.weight"), shape: w.shape(of: "wi.weight") ?? [],
                reason: "ungated T5 v1.0 feed-forward (wi + ReLU) is not implemented; SD3 / FLUX use T5 v1.1 (wi_0, wi_1)")
        }
        gate = try Linear(w["wi_0"], inFeatures: modelWidth, outFeatures: width)
        up = try Linear(w["wi_1"], inFeatures: modelWidth, outFeatures: gate.outFeatures)
        down = try Linear(w["wo"], inFeatures: gate.outFeatures, outFeatures: modelWidth)
        guard gate.bias == nil, up.bias == nil, down.bias == nil else {
            throw WeightError.badShape(
                file: w.index.source, tensor: w.key("wi_0.bias"), shape: gate.bias?.shape ?? [],
                reason: "T5 feed-forward layers have no bias")
        }
    }

    var width: Int { gate.outFeatures }

    /// residual + ff(x): [B, L, D] -> [B, L, D]
    func callAsFunction(_ x: Tensor, adding residual: consuming Tensor) -> Tensor {
        var hidden = gate(x).geluTanh()  // [B, L, F]
        hidden *= up(x)
        return down(hidden, adding: residual)
    }
}
