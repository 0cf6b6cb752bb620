import Foundation
import Hummingbird
import NIOCore

/// sd-api-server's files API over the output folder: list, describe, base64 content, raw
/// download (with or without the file name) and delete.
struct FileRoutes {
    let state: ServerState

    func register(on router: Router<ServerRequestContext>) {
        // This replica's folder, and in cluster mode the database's files of cluster jobs.
        let store = SharedFiles(state)
        router.get("v1/files") { _, _ in try JSONResponse.make(FileList(data: await store.list())) }
        router.get("v1/files/{id}") { _, context in try JSONResponse.make(await store.object(context.parameters.require("id"))) }
        router.get("v1/files/{id}/content") { _, context in
            let (bytes, object) = try await store.contents(context.parameters.require("id"))
            return try JSONResponse.make(
                FileContent(id: object.id, bytes: object.bytes, createdAt: object.createdAt, filename: object.filename,
                    content: Data(bytes).base64EncodedString()))
        }
        router.get("v1/files/download/{id}") { _, context in try await download(context.parameters.require("id"), name: nil, from: store) }
        router.get("v1/files/download/{id}/{name}") { _, context in
            try await download(context.parameters.require("id"), name: context.parameters.require("name"), from: store)
        }
        router.delete("v1/files/{id}") { _, context in
            let id = try context.parameters.require("id")
            return try JSONResponse.make(FileDeleted(id: id, deleted: await store.delete(id)))
        }
        MethodGuard.refuse(on: router, path: "v1/files", allowing: [.get])
        MethodGuard.refuse(on: router, path: "v1/files/{id}", allowing: [.get, .delete])
        MethodGuard.refuse(on: router, path: "v1/files/{id}/content", allowing: [.get])
        MethodGuard.refuse(on: router, path: "v1/files/download/{id}", allowing: [.get])
        MethodGuard.refuse(on: router, path: "v1/files/download/{id}/{name}", allowing: [.get])
    }

    /// The raw bytes; a given name must be the stored one (checked, never used as a path).
    private func download(_ id: String, name: String?, from store: SharedFiles) async throws -> Response {
        let (bytes, object) = try await store.contents(id)
        if let name, name != object.filename {
            guard FileStore.isValidName(name) else { throw ServerError.invalidField(field: "file_name", message: "'\(name.prefix(60))' is not a file name") }
            throw ServerError.notFound("file \(id) has no file named \(name)")
        }
        let headers: HTTPFields = [
            .contentType: Self.mediaType(of: object.filename),
            .contentDisposition: "attachment; filename=\(object.filename)",
        ]
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func mediaType(of name: String) -> String {
        switch (name as NSString).pathExtension.lowercased() {
        case "png": "image/png"
        case "jpg", "jpeg": "image/jpeg"
        case "webp": "image/webp"
        case "json": "application/json"
        case "txt", "md": "text/plain; charset=utf-8"
        default: "application/octet-stream"
        }
    }
}
