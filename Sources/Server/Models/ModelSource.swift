import Foundation

/// One model a server can run: its name (what a request's `model` field says) and where its
/// weights are.
public struct ModelSource: Sendable, Equatable {
    public var name: String
    /// A checkpoint file or diffusers folder; nil is the built-in model.
    public var path: String?
    /// What keeping it loaded is reckoned to cost: its weight files' size on disk.
    public var estimatedBytes: Int64

    public init(name: String, path: String?, estimatedBytes: Int64 = 0) {
        self.name = name
        self.path = path
        self.estimatedBytes = estimatedBytes
    }

    /// The models in `directory`: every `.safetensors` / `.gguf` / `.ckpt` file and every diffusers folder
    /// (one with `model_index.json`), named by file name without its extension, in name order.
    /// Anything else (configs beside a single file, hidden files) is skipped.
    /// - Throws: `ModelDirectoryError` when the folder cannot be read or two models share a name.
    public static func scan(directory: String) throws -> [ModelSource] {
        let manager = FileManager.default
        let entries: [String]
        do { entries = try manager.contentsOfDirectory(atPath: directory) } catch {
            throw ModelDirectoryError.unreadable(directory: directory, reason: "\(error.localizedDescription)")
        }
        var sources: [String: ModelSource] = [:]
        for entry in entries.sorted() where !entry.hasPrefix(".") {
            let path = (directory as NSString).appendingPathComponent(entry)
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let name: String
            if isDirectory.boolValue {
                guard manager.fileExists(atPath: (path as NSString).appendingPathComponent("model_index.json")) else { continue }
                name = entry
            } else {
                let ext = (entry as NSString).pathExtension.lowercased()
                guard ["safetensors", "gguf", "ckpt"].contains(ext) else { continue }
                name = (entry as NSString).deletingPathExtension
            }
            if let other = sources[name] {
                throw ModelDirectoryError.duplicateName(name, first: other.path ?? "", second: path)
            }
            sources[name] = ModelSource(name: name, path: path, estimatedBytes: Self.size(of: path))
        }
        return sources.values.sorted { $0.name < $1.name }
    }

    /// Bytes of a file, or of the weight files under a folder.
    public static func size(of path: String) -> Int64 {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { return 0 }
        func fileSize(_ p: String) -> Int64 { ((try? manager.attributesOfItem(atPath: p))?[.size] as? NSNumber)?.int64Value ?? 0 }
        guard isDirectory.boolValue else { return fileSize(path) }
        let files = (manager.enumerator(atPath: path)?.allObjects as? [String]) ?? []
        return files.filter { $0.hasSuffix(".safetensors") || $0.hasSuffix(".gguf") || $0.hasSuffix(".bin") }
            .reduce(0) { $0 + fileSize((path as NSString).appendingPathComponent($1)) }
    }
}

/// Why `--model-dir` could not be used.
public enum ModelDirectoryError: Error, Equatable, CustomStringConvertible {
    case unreadable(directory: String, reason: String)
    case duplicateName(String, first: String, second: String)

    public var description: String {
        switch self {
        case .unreadable(let directory, let reason): "cannot read the model folder \(directory): \(reason)"
        case .duplicateName(let name, let first, let second): "two models are named '\(name)': \(first) and \(second)"
        }
    }
}
