import Foundation
import Tensor

/// The textual-inversion folder (`--embedding-dir`): every embedding file in it and its
/// subfolders, named by its file name without extension (A1111 `EmbeddingDatabase`). Prompts use
/// the names as words; files are read on first use and kept (they are small) while unchanged.
public final class EmbeddingLibrary: @unchecked Sendable {
    /// One embedding file of the folder.
    public struct Entry: Sendable, Equatable {
        /// The name prompts use.
        public let name: String
        /// Path relative to the folder.
        public let relativePath: String
    }

    public let directory: String
    /// The most Float32 values the cache of read embeddings holds (2^24: 64 MiB).
    public let maxCachedValues: Int
    private let lock = NSLock()
    private var cache: [String: (modified: Date, size: Int, embedding: TextualInversion)] = [:]

    /// Extensions read, in the order that decides between two files of the same name.
    public static let extensions = ["safetensors", "gguf", "pt", "bin"]
    /// How deep subfolders are searched.
    static let maxDepth = 4

    public init(directory: String, maxCachedValues: Int = 1 << 24) {
        self.directory = directory
        self.maxCachedValues = maxCachedValues
    }

    /// The folder's embeddings, sorted by name; of two files with one name, the first extension
    /// of `extensions` wins, then the shallower path. Hidden files and folders are skipped.
    public func entries() -> [Entry] {
        var found: [String: (rank: Int, depth: Int, path: String)] = [:]
        func visit(_ relative: String, depth: Int) {
            let folder = relative.isEmpty ? directory : directory + "/" + relative
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
            for name in names.sorted() where !name.hasPrefix(".") {
                let path = relative.isEmpty ? name : relative + "/" + name
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory) else { continue }
                if isDirectory.boolValue {
                    if depth < Self.maxDepth { visit(path, depth: depth + 1) }
                    continue
                }
                guard let rank = Self.extensions.firstIndex(of: (name as NSString).pathExtension.lowercased()) else { continue }
                let stem = (name as NSString).deletingPathExtension
                if let seen = found[stem], (seen.rank, seen.depth) <= (rank, depth) { continue }
                found[stem] = (rank, depth, path)
            }
        }
        visit("", depth: 0)
        return found.map { Entry(name: $0.key, relativePath: $0.value.path) }.sorted { $0.name < $1.name }
    }

    /// The embedding of `entry`, read (or from the cache).
    /// - Throws: the readers' `WeightError`s and `TextualInversionError`, naming the file by its
    ///   path inside the folder.
    public func embedding(_ entry: Entry) throws -> TextualInversion {
        let path = directory + "/" + entry.relativePath
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let modified = attributes?[.modificationDate] as? Date ?? .distantPast
        let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
        if let hit = lock.withLock({ cache[path] }), hit.modified == modified, hit.size == size { return hit.embedding }
        let embedding: TextualInversion
        do {
            embedding = try TextualInversion(path: path, name: entry.name)
        } catch {
            throw Failure.unreadable(name: entry.name, reason: "\(error)".replacingOccurrences(of: directory + "/", with: ""))
        }
        lock.withLock {
            cache[path] = (modified, size, embedding)
            var total = cache.values.reduce(0) { $0 + $1.embedding.tables.values.reduce(0) { $0 + $1.count } }
            // Over the bound, drop others (any order: each is cheap to read again).
            for key in cache.keys where key != path && total > maxCachedValues {
                total -= cache[key]?.embedding.tables.values.reduce(0) { $0 + $1.count } ?? 0
                cache[key] = nil
            }
        }
        return embedding
    }

    /// An embedding that cannot be used.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unreadable(name: String, reason: String)

        public var description: String {
            switch self {
            case .unreadable(let name, let reason): "the embedding '\(name)' cannot be read: \(reason)"
            }
        }
    }
}
