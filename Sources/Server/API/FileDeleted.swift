/// `DELETE /v1/files/{id}`.
struct FileDeleted: Codable, Equatable {
    var id: String
    var object = "file"
    var deleted: Bool
}
