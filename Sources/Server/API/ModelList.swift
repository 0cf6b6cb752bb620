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
