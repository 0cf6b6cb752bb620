@testable import Diffusion
import Foundation
import NIOCore
@testable import Server
import Tensor

/// A parser under fuzzing: its seed inputs (`Tests/FuzzCorpus/<name>/`) and what one input
/// does. Errors thrown are the expected outcome for most inputs; only a crash, a hang or an
/// allocation out of proportion would be a finding.
struct FuzzTarget: Sendable {
    let name: String
    /// Longest input generated (mutations grow inputs; this keeps every run small and fast).
    let maxLength: Int
    let run: @Sendable ([UInt8]) throws -> Void

    static let corpusRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzCorpus")

    /// The committed seed inputs, sorted by name.
    var seeds: [[UInt8]] {
        let folder = Self.corpusRoot.appendingPathComponent(name)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        return names.compactMap { FileManager.default.contents(atPath: folder.appendingPathComponent($0).path).map(Array.init) }
    }

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "safetensors", maxLength: 4096) { bytes in
            let file = try SafetensorsFile(file: MappedFile(name: "fuzz.safetensors", data: bytes))
            for name in file.tensorNames where file.tensors[name]?.dtype.isNumeric == true {
                _ = try file.tensor(name).toTensor()
            }
        },
        FuzzTarget(name: "gguf", maxLength: 4096) { bytes in
            let file = try GGUFFile(file: MappedFile(name: "fuzz.gguf", data: bytes))
            for name in file.tensorNames where file.tensors[name]?.dtype.isNumeric == true {
                _ = try file.tensors[name]?.toTensor()
            }
        },
        // The zip directory, the restricted unpickler and the tensor views (copies included).
        FuzzTarget(name: "pickle", maxLength: 4096) { bytes in
            let file = try TorchPickleFile(file: MappedFile(name: "fuzz.pt", data: bytes))
            for name in file.tensorNames where file.tensors[name]?.dtype.isNumeric == true {
                _ = try file.tensor(name).toTensor()
            }
        },
        FuzzTarget(name: "json", maxLength: 4096) { bytes in
            _ = try ImageRequest.decodeJSON(Data(bytes))
        },
        FuzzTarget(name: "multipart", maxLength: 8192) { bytes in
            let form = try MultipartForm(body: ByteBuffer(bytes: bytes), boundary: "FUZZB")
            let request = try ImageRequest(form: form, endpoint: .edits)
            if let image = request.image { _ = try? ImageDecoding.decode(image, field: "image", maxPixels: 1 << 16) }
        },
        // Through the server's entry point, which checks a PNG's chunk layout before libpng
        // (PNG.decode alone still lets libpng allocate a chunk's declared length).
        FuzzTarget(name: "image", maxLength: 8192) { bytes in
            _ = try ImageDecoding.decode(Upload(filename: nil, contentType: nil, bytes: bytes), field: "image", maxPixels: 1 << 16)
        },
        FuzzTarget(name: "prompt", maxLength: 2048) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            let parsed = try PromptParser.parse(text)
            if let tokenizer = Self.tokenizer {
                for case .text(let run, _) in parsed.fragments { _ = tokenizer.encode(run) }
            }
        },
    ]

    /// The built-in model's tokenizer, for the prompt target.
    static let tokenizer: CLIPTokenizer? = {
        guard let vocabulary = try? BuiltInModel.file("vocab.json"), let merges = try? BuiltInModel.file("merges.txt") else { return nil }
        return try? CLIPTokenizer(vocabulary: URL(fileURLWithPath: vocabulary), merges: URL(fileURLWithPath: merges))
    }()
}
