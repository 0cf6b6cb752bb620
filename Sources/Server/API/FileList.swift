/// `GET /v1/files`.
struct FileList: Codable, Equatable {
    var object = "list"
    var data: [FileObject]
}
