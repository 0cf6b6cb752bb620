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
    /// Ids from `TokenizedPrompt.embeddingIDBase` on take row `id - embeddingIDBase` of `custom`
    /// [rows, D] (textual-inversion vectors) instead of the token table's.
    func callAsFunction(_ ids: [Int], custom: Tensor? = nil) -> Tensor {
        let chunks = ids.count / contextLength
        let base = TokenizedPrompt.embeddingIDBase
        guard let custom, ids.contains(where: { $0 >= base }) else {
            let tokens = tokenEmbedding.rows(at: ids).reshaped(chunks, contextLength, width)  // [chunks·L, D] -> [chunks, L, D]
            return tokens + positionEmbedding
        }
        precondition(custom.rank == 2 && custom.shape[1] == width, "CLIPTextEmbeddings: custom vectors \(custom.shape) for width \(width)")
        var tokens = tokenEmbedding.rows(at: ids.map { $0 >= base ? 0 : $0 })  // [chunks·L, D]
        tokens.withUnsafeMutableBufferPointer { out in
            custom.withUnsafeBufferPointer { table in
                guard let out = out.baseAddress, let table = table.baseAddress else { return }
                for (i, id) in ids.enumerated() where id >= base {
                    let row = id - base
                    precondition(row < custom.shape[0], "CLIPTextEmbeddings: embedding row \(row) of \(custom.shape[0])")
                    (out + i * width).update(from: table + row * width, count: width)
                }
            }
        }
        return tokens.reshaped(chunks, contextLength, width) + positionEmbedding  // [chunks·L, D] -> [chunks, L, D]
    }
}
