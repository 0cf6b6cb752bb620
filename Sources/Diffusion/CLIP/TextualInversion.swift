import Foundation
import Tensor

/// Why a textual-inversion embedding could not be used.
public enum TextualInversionError: Error, Equatable, CustomStringConvertible {
    /// The file's tensors are none of the layouts embeddings are saved in.
    case notAnEmbedding(file: String, reason: String)
    /// A vector table of the wrong rank or size.
    case badShape(file: String, tensor: String, shape: [Int], reason: String)

    public var description: String {
        switch self {
        case .notAnEmbedding(let file, let reason): "\(file): not a textual-inversion embedding: \(reason)"
        case .badShape(let file, let tensor, let shape, let reason): "\(file): tensor '\(tensor)' \(shape): \(reason)"
        }
    }
}

/// A textual-inversion embedding: a few learned token vectors that a prompt calls up by the
/// file's name (A1111 `Embedding`, diffusers `load_textual_inversion`).
///
/// Layouts read (A1111 `create_embedding_from_data`), safetensors, GGUF or PyTorch pickle:
/// - A1111 / original textual inversion: `string_to_param.*` [n, D] (one entry);
/// - SDXL, one table per text encoder: `clip_l` [n, 768] and `clip_g` [n, 1280];
/// - any file holding exactly one tensor [n, D] or [D]: kohya's `emb_params`, diffusers'
///   `learned_embeds` (`{token: vector}`).
public struct TextualInversion: Sendable, Equatable {
    /// Which text encoder a vector table is for.
    public enum Tower: String, Sendable, Hashable {
        /// The one table of an SD 1.x / 2.x embedding, for the model's only text encoder.
        case single = ""
        /// SDXL's CLIP-L (`clip_l`) and OpenCLIP-bigG (`clip_g`) tables.
        case clipL = "clip_l"
        case clipG = "clip_g"
    }

    /// The name a prompt uses (the file name without extension).
    public let name: String
    public let path: String
    /// [vectors, D] per text encoder: `.single`, or both `.clipL` and `.clipG`.
    public let tables: [Tower: Tensor]
    /// A1111's short hash of the file (`TI hashes` in a picture's parameters); nil for an
    /// embedding made in memory.
    public var hash: String?

    /// The most vectors one embedding may have: it must fit in a 75-token chunk.
    public static let maxVectors = TokenizedPrompt.tokensPerChunk
    /// The widest table read (text encoders are 768 to 4096 wide): a mislabelled file is refused
    /// before it is decoded.
    public static let maxWidth = 16384

    /// Vectors per use (rows of each table).
    public var vectorCount: Int { tables.values.first?.shape[0] ?? 0 }

    /// The table for `tower` when it is `width` wide, or nil (an embedding of another family).
    public func table(_ tower: Tower, width: Int) -> Tensor? {
        guard let table = tables[tower], table.shape[1] == width else { return nil }
        return table
    }

    public init(name: String, path: String, tables: [Tower: Tensor]) {
        self.name = name
        self.path = path
        self.tables = tables
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.path == b.path && a.hash == b.hash && a.tables.count == b.tables.count
            && a.tables.allSatisfy { tower, table in b.tables[tower].map { $0.shape == table.shape && $0.scalars == table.scalars } ?? false }
    }

    /// Reads `path`, named `name` in prompts.
    /// - Throws: the readers' `WeightError`s, `TextualInversionError`.
    public init(path: String, name: String) throws {
        try self.init(tensors: try Checkpoint.weightFile(path).tensors, path: path, name: name)
        hash = try FileHash.whole(path)
    }

    /// Reads an embedding from a file's tensors (see the layouts above).
    /// - Throws: `TextualInversionError`, or `WeightError` for a tensor that does not decode.
    public init(tensors: [String: StoredTensor], path: String, name: String) throws {
        var chosen: [Tower: (key: String, tensor: StoredTensor)] = [:]
        let parameters = tensors.filter { $0.key.hasPrefix("string_to_param.") }
        if let l = tensors["clip_l"], let g = tensors["clip_g"] {
            chosen = [.clipL: ("clip_l", l), .clipG: ("clip_g", g)]
        } else if !parameters.isEmpty {
            guard parameters.count == 1, let only = parameters.first else {
                throw TextualInversionError.notAnEmbedding(
                    file: path, reason: "\(parameters.count) string_to_param entries; an embedding has one")
            }
            chosen = [.single: (only.key, only.value)]
        } else if tensors.count == 1, let only = tensors.first {
            chosen = [.single: (only.key, only.value)]
        } else {
            let names = tensors.keys.sorted().prefix(4).joined(separator: ", ")
            throw TextualInversionError.notAnEmbedding(
                file: path,
                reason: tensors.isEmpty
                    ? "no tensors"
                    : "\(tensors.count) tensors (\(names)...), none of string_to_param.*, clip_l + clip_g, or one vector table")
        }
        var tables: [Tower: Tensor] = [:]
        for (tower, entry) in chosen {
            let shape = entry.tensor.shape
            guard entry.tensor.dtype.isFloatingPoint else {
                throw WeightError.notFloatingPoint(file: path, tensor: entry.key, dtype: entry.tensor.dtype.rawValue)
            }
            guard (shape.count == 1 || shape.count == 2), let width = shape.last, width > 0, width <= Self.maxWidth else {
                throw TextualInversionError.badShape(file: path, tensor: entry.key, shape: shape, reason: "a vector table is [vectors, width] or [width], width at most \(Self.maxWidth)")
            }
            let rows = shape.count == 2 ? shape[0] : 1
            guard rows >= 1 && rows <= Self.maxVectors else {
                throw TextualInversionError.badShape(
                    file: path, tensor: entry.key, shape: shape, reason: "\(rows) vectors; an embedding has 1 to \(Self.maxVectors)")
            }
            let table = try entry.tensor.toTensor().reshaped(rows, width)  // [D] -> [1, D]
            guard table.scalars.allSatisfy(\.isFinite) else {
                throw TextualInversionError.badShape(file: path, tensor: entry.key, shape: shape, reason: "holds values that are not finite")
            }
            tables[tower] = table
        }
        if let l = tables[.clipL], let g = tables[.clipG], l.shape[0] != g.shape[0] {
            throw TextualInversionError.badShape(
                file: path, tensor: "clip_g", shape: g.shape, reason: "\(g.shape[0]) vectors but clip_l has \(l.shape[0])")
        }
        self.init(name: name, path: path, tables: tables)
    }
}
