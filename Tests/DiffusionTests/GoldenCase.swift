import Foundation
import Tensor

@testable import Diffusion

/// One golden fixture (Tests/DiffusionTests/Fixtures/<name>.safetensors): the reference module's
/// weights under `weights.<canonical key>`, its inputs under `input.*` and outputs under `output.*`.
struct GoldenCase {
    let file: SafetensorsFile
    /// The `weights.*` tensors with that prefix removed: what a checkpoint would hold.
    let index: WeightIndex

    init(_ name: String) throws {
        file = try SafetensorsFile(path: fixturePath("\(name).safetensors"))
        var tensors: [String: StoredTensor] = [:]
        for (key, t) in file.tensors where key.hasPrefix("weights.") {
            tensors[String(key.dropFirst("weights.".count))] = t
        }
        index = WeightIndex(source: "\(name).safetensors", tensors: tensors)
    }

    func input(_ name: String) throws -> Tensor { try file.tensor("input.\(name)").toTensor() }
    func output(_ name: String) throws -> Tensor { try file.tensor("output.\(name)").toTensor() }
    var metadata: [String: String] { file.metadata }
}

/// Path of a committed fixture (Tests/DiffusionTests/Fixtures/<name>).
func fixturePath(_ name: String) -> String {
    guard let base = Bundle.module.resourceURL else { fatalError("test bundle has no resources") }
    return base.appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

/// The repository's root (for the shipped Weights/ folder).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
