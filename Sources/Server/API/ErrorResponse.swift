/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}` (param and code null
/// when they do not apply, as OpenAI sends them).
struct ErrorResponse: Codable, Equatable {
    struct Detail: Codable, Equatable {
        var message: String
        var type: String
        var param: String?
        var code: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(message, forKey: .message)
            try container.encode(type, forKey: .type)
            try container.encode(param, forKey: .param)  // explicit null, as OpenAI
            try container.encode(code, forKey: .code)
        }
    }

    var error: Detail
}
