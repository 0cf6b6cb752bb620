import Tensor

/// Token plus position embeddings of the CLIP text transformer (HF `CLIPTextEmbeddings`).
///
/// Keys are relative to `text_model.embeddings`. The token table stays encoded in its file and
/// only the rows asked for are decoded. `position_ids` may be present and is not read.
struct CLIPTextEmbeddings: Sendable {
    let tokenEmbedding: StoredTensor  // token_embedding.weight [vocab, D]
    let positionEmbedding: Tensor  // position_embedding.weight [context, D]

    init(_ w: Weights) throws {
        tokenEmbedding = try w.stored("token_embedding.weight")
        guard tokenEmbedding.shape.count == 2 else {
            throw WeightError.badShape(
                file: tokenEmbedding.file.path, tensor: w.key("token_embedding.weight"), shape: tokenEmbedding.shape,
                reason: "a token embedding is [vocab, width]")
        }
        positionEmbedding = try w.tensor("position_embedding.weight")
        guard positionEmbedding.rank == 2, positionEmbedding.shape[1] == tokenEmbedding.shape[1] else {
            throw WeightError.shapeMismatch(
                file: w.index.source, tensor: w.key("position_embedding.weight"),
                expected: [positionEmbedding.shape.first ?? -1, tokenEmbedding.shape[1]], actual: positionEmbedding.shape)
        }
    }

    var vocabularySize: Int { tokenEmbedding.shape[0] }
    var width: Int { tokenEmbedding.shape[1] }
    var contextLength: Int { positionEmbedding.shape[0] }

    /// ids (chunks · context of them) -> [chunks, context, D]; every chunk uses positions 0 ..< context.
    func callAsFunction(_ ids: [Int]) -> Tensor {
        let chunks = ids.count / contextLength
        let tokens = tokenEmbedding.rows(at: ids).reshaped(chunks, contextLength, width)  // [chunks·L, D] -> [chunks, L, D]
        return tokens + positionEmbedding
    }
}
