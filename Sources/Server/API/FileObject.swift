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

/// `GET /v1/files`.
struct FileList: Codable, Equatable {
    var object = "list"
    var data: [FileObject]
}

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

/// `DELETE /v1/files/{id}`.
struct FileDeleted: Codable, Equatable {
    var id: String
    var object = "file"
    var deleted: Bool
}
