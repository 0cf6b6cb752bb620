/// `GET /v1/models`: the models this server runs, OpenAI's list shape, with whether each is
/// loaded now.
struct ModelList: Codable, Equatable {
    struct Model: Codable, Equatable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "local"
        var loaded: Bool
        /// The model of requests that name none.
        var isDefault: Bool

        enum CodingKeys: String, CodingKey {
            case id, object, created, loaded
            case ownedBy = "owned_by"
            case isDefault = "default"
        }
    }

    var object = "list"
    var data: [Model]
}

/// `GET /v1/loras`: the names the LoRA folder holds, for `<lora:NAME:WEIGHT>` and `lora`.
struct LoRAList: Codable, Equatable {
    struct Entry: Codable, Equatable {
        var name: String
        var object = "lora"
    }

    var object = "list"
    var data: [Entry]
}

/// `GET /v1/embeddings`: the textual-inversion folder's embeddings, the names prompts use, with
/// what each is for (a file that cannot be read is listed with its error).
struct EmbeddingList: Codable, Equatable {
    struct Entry: Codable, Equatable {
        var name: String
        var object = "embedding"
        /// Vectors the name stands for.
        var vectors: Int?
        /// `sd1` (one 768-wide table), `sd2` (1024), `sdxl` (clip_l + clip_g), or `other` (its
        /// width names no family).
        var family: String?
        var error: String?
    }

    var object = "list"
    var data: [Entry]
}
