import Foundation
import Tensor

/// The names and shapes of every tensor of a real SD 1.5 single-file checkpoint (LDM naming), read
/// from the committed fixture `Tests/DiffusionTests/Fixtures/key_list_sd15_ldm.json`.
///
/// The fixture is front-coded (see `Tests/DiffusionTests/HeaderOnlyCheckpoint.swift`): rows
/// `[shared, "suffix", [shape]]` in sorted order, where a row's name is the first `shared` bytes of
/// the previous name plus `suffix`. Reading it rather than generating the names in Swift keeps one
/// source of truth with the loader's tests, which were checked against diffusers.
struct KeyList {
    /// (name, shape) in the fixture's sorted order.
    let entries: [(name: String, shape: [Int])]

    /// The fixture found from this source file's location (the repository it was built from).
    static var defaultPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tests/DiffusionTests/Fixtures/key_list_sd15_ldm.json").path
    }

    /// Reads the front-coded key list at `path`.
    /// - Throws: `WeightError.cannotOpen` if unreadable, `.badHeader` for a malformed row.
    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WeightError.cannotOpen(file: path, reason: "cannot read the key list (pass --key-list)")
        }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let rows = root["keys"] as? [[Any]]
        else { throw WeightError.badHeader(file: path, reason: "no keys array") }
        var entries: [(name: String, shape: [Int])] = []
        var previous: [UInt8] = []
        for row in rows {
            guard row.count == 3, let shared = row[0] as? Int, let suffix = row[1] as? String,
                let shape = row[2] as? [Int], shared <= previous.count
            else { throw WeightError.badHeader(file: path, reason: "bad row \(row)") }
            let name = Array(previous[..<shared]) + Array(suffix.utf8)
            entries.append((String(decoding: name, as: UTF8.self), shape))
            previous = name
        }
        self.entries = entries
    }

    /// A list with the given entries.
    init(entries: [(name: String, shape: [Int])]) {
        self.entries = entries
    }

    /// Number of values over all tensors.
    var parameterCount: Int { entries.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}
