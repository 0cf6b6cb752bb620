import Tensor

/// The feed-forward block of a CLIP text layer, fc2(act(fc1(x))) (HF `CLIPMLP`; OpenCLIP
/// `mlp.c_fc` / `mlp.c_proj`, renamed by the loader). Keys are relative to `...layers.L.mlp`.
struct CLIPMLP: Sendable {
    let fc1: Linear  // fc1 [4D, D] (OpenCLIP c_fc)
    let fc2: Linear  // fc2 [D, 4D] (OpenCLIP c_proj)
    let activation: CLIPActivation

    init(_ w: Weights, width: Int, activation: CLIPActivation) throws {
        fc1 = try Linear(w["fc1"], inFeatures: width)
        fc2 = try Linear(w["fc2"], inFeatures: fc1.outFeatures, outFeatures: width)
        self.activation = activation
    }

    /// [..., D] -> [..., D]
    func callAsFunction(_ x: Tensor) -> Tensor { fc2(activation(fc1(x))) }
}
