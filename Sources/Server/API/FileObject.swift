/// sd-api-server's (and OpenAI's) FileObject.
struct FileObject: Codable, Equatable, Sendable {
    var id: String
    var bytes: Int
    var createdAt: Int
    var filename: String
    var object = "file"
    var purpose = "assistants"

    enum CodingKeys: String, CodingKey {
        case id, bytes, filename, object, purpose
        case createdAt = "created_at"
    }
}
