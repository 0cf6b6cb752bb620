/// The files API's view of the pictures: this replica's output folder first, then, in cluster
/// mode, the files of cluster jobs in the database (which every replica serves alike).
struct SharedFiles: Sendable {
    let local: FileStore
    let cluster: ClusterJobs?

    init(_ state: ServerState) {
        local = state.store
        cluster = state.cluster
    }

    /// Every file, oldest first.
    func list() async throws -> [FileObject] {
        let here = local.list()
        guard let cluster else { return here }
        let known = Set(here.map(\.id))
        let shared = try await cluster.files().filter { !known.contains($0.id) }
        return (here + shared).sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// - Throws: as `FileStore.object` (a malformed id is a 400, an unknown one a 404).
    func object(_ id: String) async throws -> FileObject {
        do { return try local.object(id) } catch ServerError.notFound(let message) {
            guard let cluster, let object = try await cluster.file(id) else { throw ServerError.notFound(message) }
            return object
        }
    }

    func contents(_ id: String) async throws -> (bytes: [UInt8], object: FileObject) {
        do { return try local.contents(id) } catch ServerError.notFound(let message) {
            guard let cluster, let found = try await cluster.contents(id) else { throw ServerError.notFound(message) }
            return found
        }
    }

    /// - Returns: false when neither had it.
    func delete(_ id: String) async throws -> Bool {
        let here = try local.delete(id)
        guard let cluster else { return here }
        return try await cluster.deleteFile(id) || here
    }
}
