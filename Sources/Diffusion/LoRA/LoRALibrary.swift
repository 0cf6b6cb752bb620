import Foundation
import Tensor

/// A request's use of one LoRA: its name in the LoRA folder and its multiplier.
public struct LoRAUse: Sendable, Equatable {
    public var name: String
    public var multiplier: Float

    public init(name: String, multiplier: Float = 1) {
        self.name = name
        self.multiplier = multiplier
    }
}

/// The LoRA folder (`--lora-model-dir`): names resolved only inside it, files read once and
/// kept while they are in use (the most recently used `capacity` of them, within `maxCachedValues`
/// decoded values: a file is held as Float32).
public final class LoRALibrary: @unchecked Sendable {
    public let directory: String
    public let capacity: Int
    /// The most Float32 values the cache holds (2^28: 1 GiB); the most recent file always stays.
    public let maxCachedValues: Int
    private let lock = NSLock()
    private var cache: [(path: String, modified: Date, file: LoRAFile)] = []

    /// The file extensions looked for, in order, after the name itself.
    public static let extensions = ["safetensors", "gguf", "ckpt", "pt", "pth", "bin"]

    public init(directory: String, capacity: Int = 8, maxCachedValues: Int = 1 << 28) {
        self.directory = directory
        self.capacity = max(1, capacity)
        self.maxCachedValues = maxCachedValues
    }

    /// The names the folder holds (file names without extension), sorted.
    public func names() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.filter { Self.extensions.contains(($0 as NSString).pathExtension.lowercased()) && !$0.hasPrefix(".") }
            .map { ($0 as NSString).deletingPathExtension }.sorted()
    }

    /// Why `name` cannot name a file of the folder, or nil: it must be a plain file name (no
    /// `/`, `\`, `..`, NUL or leading `.`), so no request reaches outside the folder.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > 255 { return "is longer than 255 bytes" }
        if name.contains("/") || name.contains("\\") || name.contains("\0") || name.hasPrefix(".") || name.contains("..") {
            return "must be a file name in the LoRA folder, not a path"
        }
        return nil
    }

    /// The file `name` names, read (or from the cache).
    /// - Throws: `LoRALibrary.Failure` for a bad or unknown name, the file's `LoRAError` or
    ///   `WeightError`.
    public func file(named name: String) throws -> LoRAFile {
        if let problem = Self.problem(with: name) { throw Failure.badName(name, problem) }
        let candidates = [name] + Self.extensions.map { "\(name).\($0)" }
        guard let path = candidates.map({ directory + "/" + $0 }).first(where: Self.isRegularFile) else {
            throw Failure.notFound(name)
        }
        let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
        if let hit = lock.withLock({ () -> LoRAFile? in
            guard let i = cache.firstIndex(where: { $0.path == path && $0.modified == modified }) else { return nil }
            let entry = cache.remove(at: i)
            cache.append(entry)
            return entry.file
        }) {
            return hit
        }
        let file = try LoRAFile(path: path)
        lock.withLock {
            cache.removeAll { $0.path == path }
            cache.append((path, modified, file))
            if cache.count > capacity { cache.removeFirst(cache.count - capacity) }
            while cache.count > 1 && cache.reduce(0, { $0 + $1.file.valueCount }) > maxCachedValues { cache.removeFirst() }
        }
        return file
    }

    private static func isRegularFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// A name that cannot be used.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case badName(String, String)
        case notFound(String)

        public var description: String {
            switch self {
            case .badName(let name, let problem): "the LoRA name '\(name.prefix(80))' \(problem)"
            case .notFound(let name): "no LoRA named '\(name.prefix(80))' in the LoRA folder"
            }
        }
    }
}
