/// A file part of a multipart request (an `image`, `mask` or `control_image`).
struct Upload: Sendable, Equatable {
    var filename: String?
    var contentType: String?
    var bytes: [UInt8]
}
