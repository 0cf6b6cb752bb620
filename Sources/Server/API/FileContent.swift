/// `GET /v1/files/{id}/content`: the FileObject fields plus the base64 content.
struct FileContent: Codable, Equatable {
    var id: String
    var bytes: Int
    var createdAt: Int
    var filename: String
    var content: String

    enum CodingKeys: String, CodingKey {
        case id, bytes, filename, content
        case createdAt = "created_at"
    }
}
