import Foundation

/// The output folder, laid out as sd-api-server's `archives`: `<root>/file_<uuid>/<name>`, one
/// file per id. Ids and names are checked against strict patterns before any path is built, so
/// no request can reach outside the folder. Files are written atomically (temporary file,
/// flushed, then renamed), so a reader or a shutdown never sees half a file, and a failed write
/// (disk full, folder not writable) leaves nothing behind.
struct FileStore: Sendable {
    let root: URL
    let timeToLive: Duration?

    /// - Throws: when the folder cannot be created.
    init(directory: String, timeToLive: Duration?) throws {
        root = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL
        self.timeToLive = timeToLive
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    /// `file_` and a UUID, as generated here.
    static func isValidID(_ id: String) -> Bool {
        guard id.hasPrefix("file_") else { return false }
        return UUID(uuidString: String(id.dropFirst(5))) != nil
    }

    /// Letters, digits, '.', '-', '_'; not starting with '.'; at most 128 bytes.
    static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty && name.utf8.count <= 128 && !name.hasPrefix(".") else { return false }
        return name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x2D || c == 0x5F
        }
    }

    /// Stores `bytes` under a new id: a temporary file in the id's folder, written, flushed to
    /// the disk and then renamed to `name`. On any failure the temporary file and the folder are
    /// removed again, so a full or read-only disk leaves nothing behind.
    /// - Throws: `StorageError` (the call, the path and errno, for the log); `ServerError(_:)`
    ///   turns it into a 507 when the disk or quota is full, else a 500.
    func save(_ bytes: [UInt8], name: String) throws -> FileObject {
        precondition(Self.isValidName(name), "FileStore.save: bad name \(name)")
        let id = "file_\(UUID().uuidString.lowercased())"
        let folder = root.appendingPathComponent(id, isDirectory: true).path
        guard mkdir(folder, 0o777) == 0 else { throw StorageError(operation: "mkdir", path: folder, code: errno) }
        do {
            try Self.writeAtomically(bytes, to: folder + "/" + name, temporary: folder + "/.\(name).partial")
        } catch {
            rmdir(folder)
            throw error
        }
        return FileObject(id: id, bytes: bytes.count, createdAt: Int(Date().timeIntervalSince1970), filename: name)
    }

    /// Writes `bytes` to `temporary` (which must not exist), flushes it and renames it to `path`;
    /// removes `temporary` when any step fails. Its name starts with '.', so `locate` never
    /// serves it.
    /// - Throws: `StorageError` naming the failed call.
    static func writeAtomically(_ bytes: [UInt8], to path: String, temporary: String) throws {
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw StorageError(operation: "open", path: temporary, code: errno) }
        var failure: StorageError?
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n > 0 {
                    done += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    // write(2) returns 0 only for a zero-length request; treat it as no space.
                    failure = StorageError(operation: "write", path: temporary, code: n < 0 ? errno : ENOSPC)
                    return
                }
            }
        }
        // Some file systems (NFS, quotas) report a full disk only when the data is flushed.
        if failure == nil && fsync(fd) != 0 && errno != EINVAL { failure = StorageError(operation: "fsync", path: temporary, code: errno) }
        if close(fd) != 0 && failure == nil && errno != EINTR { failure = StorageError(operation: "close", path: temporary, code: errno) }
        if failure == nil && rename(temporary, path) != 0 { failure = StorageError(operation: "rename", path: path, code: errno) }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }

    /// Every stored file, oldest first.
    func list() -> [FileObject] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return ids.filter(Self.isValidID).compactMap { try? object($0) }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// The file of `id`.
    /// - Throws: `ServerError.invalidField` for a malformed id, `.notFound` for an unknown one.
    func object(_ id: String) throws -> FileObject {
        try locate(id).object
    }

    /// Where `id`'s file is and its FileObject.
    func locate(_ id: String) throws -> (url: URL, object: FileObject) {
        guard Self.isValidID(id) else { throw ServerError.invalidField(field: "file_id", message: "'\(id.prefix(60))' is not a file id") }
        let folder = root.appendingPathComponent(id, isDirectory: true)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        guard let name = names.sorted().first(where: Self.isValidName) else { throw ServerError.notFound("file \(id) not found") }
        let url = folder.appendingPathComponent(name)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
            (attributes[.type] as? FileAttributeType) == .typeRegular
        else { throw ServerError.notFound("file \(id) not found") }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        let created = (attributes[.modificationDate] as? Date) ?? Date()
        return (url, FileObject(id: id, bytes: size, createdAt: Int(created.timeIntervalSince1970), filename: name))
    }

    /// The bytes of `id`'s file.
    func contents(_ id: String) throws -> (bytes: [UInt8], object: FileObject) {
        let (url, object) = try locate(id)
        guard let data = FileManager.default.contents(atPath: url.path) else { throw ServerError.notFound("file \(id) not found") }
        return ([UInt8](data), object)
    }

    /// Removes `id`'s folder; false when there was none.
    /// - Throws: `ServerError.invalidField` for a malformed id.
    func delete(_ id: String) throws -> Bool {
        guard Self.isValidID(id) else { throw ServerError.invalidField(field: "file_id", message: "'\(id.prefix(60))' is not a file id") }
        let folder = root.appendingPathComponent(id, isDirectory: true)
        guard FileManager.default.fileExists(atPath: folder.path) else { return false }
        return (try? FileManager.default.removeItem(at: folder)) != nil
    }

    /// Deletes the files older than the time-to-live; returns how many.
    @discardableResult
    func sweep(now: Date = Date()) -> Int {
        guard let timeToLive else { return 0 }
        let limit = Double(timeToLive.components.seconds) + Double(timeToLive.components.attoseconds) * 1e-18
        var removed = 0
        for file in list() where now.timeIntervalSince1970 - Double(file.createdAt) >= limit {
            if (try? delete(file.id)) == true { removed += 1 }
        }
        return removed
    }
}
