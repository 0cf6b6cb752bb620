import Foundation

/// The pool's models under A1111's checkpoint names, and back. A1111 titles a checkpoint by its
/// file name and short hash ("v1-5-pruned-emaonly.safetensors [6ce0161689]"); without a hash (we
/// compute none: hashing gigabytes at start-up is not worth it) the title is the file name alone.
/// Clients send back a title, a model name or an A1111 title with a hash, so all resolve.
struct A1111Checkpoints: Sendable {
    let models: ModelPool

    /// One `/sdapi/v1/sd-models` item.
    struct Item: Codable, Equatable, Sendable {
        var title: String
        var modelName: String
        var hash: String?
        var sha256: String?
        /// The file's name (A1111 gives its full path; this server does not show its folders).
        var filename: String
        var config: String?

        enum CodingKeys: String, CodingKey {
            case title, hash, sha256, filename, config
            case modelName = "model_name"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(title, forKey: .title)
            try c.encode(modelName, forKey: .modelName)
            // Explicit nulls, as A1111's pydantic models send them.
            try c.encode(hash, forKey: .hash)
            try c.encode(sha256, forKey: .sha256)
            try c.encode(filename, forKey: .filename)
            try c.encode(config, forKey: .config)
        }
    }

    /// Every model, the default first.
    var items: [Item] { models.statuses.map { item(for: $0.name) } }

    /// The item of pool model `name`: titled by its file name (a folder's name for a diffusers
    /// model, the name itself for the built-in one).
    func item(for name: String) -> Item {
        let file = models.source(named: name)?.path.map { ($0 as NSString).lastPathComponent } ?? name
        return Item(title: file, modelName: name, filename: file)
    }

    /// The pool name a client's checkpoint name means.
    /// - Throws: `ServerError.unknownModel` (404).
    func resolve(_ text: String) throws -> String {
        var name = text.trimmingCharacters(in: .whitespaces)
        // "name.safetensors [6ce0161689]": the short hash is not checked.
        if name.hasSuffix("]"), let open = name.range(of: " [", options: .backwards) { name = String(name[..<open.lowerBound]) }
        let names = models.statuses.map(\.name)
        if names.contains(name) { return name }
        if let hit = names.first(where: { item(for: $0).title == name }) { return hit }
        // A1111 titles carry subfolders ("sdxl/juggernaut.safetensors") and extensions.
        let stem = ((name as NSString).lastPathComponent as NSString).deletingPathExtension
        if let hit = names.first(where: { $0 == stem || (item(for: $0).title as NSString).deletingPathExtension == stem }) { return hit }
        throw ServerError.unknownModel(text)
    }
}
