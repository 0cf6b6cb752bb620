import Tensor

/// The text projection applied to the pooled EOS state (HF `CLIPTextModelWithProjection.text_projection`,
/// OpenCLIP `text_projection`); SDXL's second tower feeds the result to the UNet as the pooled vector.
///
/// Two stored forms, told apart by name, never by shape (bigG's is square, 1280 x 1280):
/// - `text_projection.weight` [P, D]: an HF/diffusers Linear weight, used as is;
/// - `text_projection` [D, P]: OpenCLIP's matrix for `pooled @ P`, transposed once here. (sd.cpp
///   applies this one untransposed since its PR #397; the reference's 4.7.1 explains why that is wrong.)
struct CLIPTextProjection: Sendable {
    let weight: WeightMatrix  // [P, D] Linear orientation; no bias in either form

    /// The projection in scope `w` (the encoder's root), or nil when the checkpoint has none.
    init?(_ w: Weights, width: Int) throws {
        if w.shape(of: "text_projection.weight") != nil {
            let linear = try Linear(w["text_projection"], inFeatures: width)  // text_projection.weight
            guard linear.bias == nil else {
                throw WeightError.badShape(
                    file: w.index.source, tensor: w.key("text_projection.bias"), shape: linear.bias?.shape ?? [],
                    reason: "CLIP's text projection has no bias")
            }
            weight = linear.weight
        } else if let shape = w.shape(of: "text_projection") {
            guard shape.count == 2, shape[0] == width else {
                throw WeightError.badShape(
                    file: w.index.source, tensor: w.key("text_projection"), shape: shape,
                    reason: "OpenCLIP's text_projection is [width \(width), projection]")
            }
            weight = WeightMatrix(try w.tensor("text_projection").transposed())  // [D, P] -> [P, D]
        } else {
            return nil
        }
    }

    var outFeatures: Int { weight.rows }

    /// [N, D] -> [N, P]
    func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight) }
}
