import Diffusion
import Foundation
import NIOCore

/// A parsed and validated image request: what a generation needs (options, model) and how its
/// answer is shaped. Built from the body bytes and content type alone, so a request stored by
/// one replica (cluster mode) is prepared again, with the same rules, by the one that runs it.
struct PreparedImageRequest {
    var options: GenerationOptions
    var model: String
    var settings: ResponseSettings

    /// Parses the body (multipart when the content type says so, else JSON) into wire fields.
    /// - Throws: `ServerError` naming the bad field.
    static func wire(body: ByteBuffer, contentType: String, endpoint: ImageRequest.Endpoint) throws -> ImageRequest {
        if let boundary = try MultipartForm.boundary(ofContentType: contentType) {
            return try ImageRequest(form: MultipartForm(body: body, boundary: boundary), endpoint: endpoint)
        }
        guard endpoint == .generations else {
            throw ServerError.invalidField(field: nil, message: "/v1/images/edits takes multipart/form-data")
        }
        return try ImageRequest.decodeJSON(Data(body.readableBytesView))
    }

    /// Validates the wire fields against this server (its models, limits and stored files).
    /// - Parameter context: the mapping context; nil uses `state.mappingContext`.
    /// - Throws: `ServerError` naming the bad field.
    init(wire: ImageRequest, endpoint: ImageRequest.Endpoint, state: ServerState, context: ImageRequest.Context? = nil) throws {
        settings = try wire.responseSettings(endpoint: endpoint)
        if endpoint == .edits && wire.image == nil {
            throw ServerError.invalidField(field: "image", message: "missing field 'image'")
        }
        model = try state.models.resolve(wire.model)
        options = try wire.generationOptions(context ?? state.mappingContext)
    }
}
