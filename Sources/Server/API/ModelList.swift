/// `GET /v1/models`: the one model this server runs, OpenAI's list shape.
struct ModelList: Codable, Equatable {
    struct Model: Codable, Equatable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "local"

        enum CodingKeys: String, CodingKey {
            case id, object, created
            case ownedBy = "owned_by"
        }
    }

    var object = "list"
    var data: [Model]
}
