import Diffusion
import Foundation
import Tensor

/// The LoRA and textual-inversion folders as A1111's `/sdapi/v1/loras` and `/embeddings` list
/// them. Paths are given inside their folder only (A1111 shows absolute ones): clients need the
/// names, which are what `<lora:NAME:WEIGHT>` and prompts use.
enum A1111Networks {
    struct LoRA: Encodable, Equatable, Sendable {
        var name: String
        /// The name again: prompt tags here resolve file names only, so that is the alias that
        /// works (A1111 may use a training name from the metadata).
        var alias: String
        var path: String
        /// The safetensors `__metadata__` strings (kohya's `ss_*` keys); empty for GGUF files.
        var metadata: [String: String]
    }

    struct Embedding: Encodable, Equatable, Sendable {
        var step: Int?
        var sdCheckpoint: String?
        var sdCheckpointName: String?
        /// The width of a vector (768 SD 1.x, 1024 SD 2.x, 1280 for SDXL's larger table).
        var shape: Int
        var vectors: Int

        enum CodingKeys: String, CodingKey {
            case step, shape, vectors
            case sdCheckpoint = "sd_checkpoint"
            case sdCheckpointName = "sd_checkpoint_name"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(step, forKey: .step)
            try c.encode(sdCheckpoint, forKey: .sdCheckpoint)
            try c.encode(sdCheckpointName, forKey: .sdCheckpointName)
            try c.encode(shape, forKey: .shape)
            try c.encode(vectors, forKey: .vectors)
        }
    }

    struct Embeddings: Encodable, Equatable, Sendable {
        var loaded: [String: Embedding]
        /// Always empty: A1111 lists embeddings of another model family here; files that cannot
        /// be read are left out (their shape is unknown).
        var skipped: [String: Embedding]
    }

    static func loras(in directory: String?) -> [LoRA] {
        guard let directory else { return [] }
        return LoRALibrary(directory: directory).names().compactMap { name in
            guard let file = LoRALibrary.extensions.map({ "\(name).\($0)" }).first(where: { exists(directory + "/" + $0) }) else { return nil }
            let metadata = file.hasSuffix(".safetensors") ? ((try? SafetensorsFile(path: directory + "/" + file))?.metadata ?? [:]) : [:]
            return LoRA(name: name, alias: name, path: file, metadata: metadata)
        }
    }

    static func embeddings(in directory: String?) -> Embeddings {
        guard let directory else { return Embeddings(loaded: [:], skipped: [:]) }
        let library = EmbeddingLibrary(directory: directory)
        var loaded: [String: Embedding] = [:]
        for entry in library.entries() {
            guard let embedding = try? library.embedding(entry) else { continue }
            let width = embedding.tables.values.map { $0.shape.last ?? 0 }.max() ?? 0
            loaded[entry.name] = Embedding(shape: width, vectors: embedding.vectorCount)
        }
        return Embeddings(loaded: loaded, skipped: [:])
    }

    private static func exists(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }
}
