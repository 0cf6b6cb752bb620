@testable import Diffusion
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import Server
import Tensor
import TestSupport
import Testing

/// Textual-inversion embeddings through the server: a name in the prompt gives the library's
/// picture, `GET /v1/embeddings` lists the folder (with each file's family, or its error), and a
/// broken file a prompt names is a 400 naming the field. (The vectors' numbers are checked against
/// diffusers in DiffusionTests.)
@Suite(.serialized) struct EmbeddingServerTests {
    struct Setup: Sendable {
        let folder: String
        let pipeline: DiffusionPipeline
    }

    /// `glow.safetensors` (2 vectors for the built-in model's 64-wide encoder), `sd1style`
    /// (768 wide), `xlstyle` (SDXL tables) and a broken `junk.safetensors`.
    static let setup = Result { () throws -> Setup in
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emb-server-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (name, tensors) in [
            ("glow", ["emb_params": pseudoRandomTensor([2, 64], seed: 1, scale: 0.05)]),
            ("sd1style", ["emb_params": pseudoRandomTensor([1, 768], seed: 2)]),
            ("xlstyle", ["clip_l": pseudoRandomTensor([3, 768], seed: 3), "clip_g": pseudoRandomTensor([3, 1280], seed: 4)]),
        ] {
            var writer = SafetensorsWriter()
            for (key, t) in tensors { writer.add(key, t, as: .f16) }
            try writer.write(to: "\(folder)/\(name).safetensors")
        }
        try Data("junk".utf8).write(to: URL(fileURLWithPath: folder + "/junk.safetensors"))
        let pipeline = try DiffusionPipeline()
        pipeline.embeddingLibrary = EmbeddingLibrary(directory: folder)
        return Setup(folder: folder, pipeline: pipeline)
    }

    func configuration(_ s: Setup) -> ServerConfiguration {
        var configuration = testConfiguration()
        configuration.embeddingDirectory = s.folder
        return configuration
    }

    @Test func aNameInThePromptGivesTheLibrarysPicture() async throws {
        let s = try Self.setup.get()
        var o = GenerationOptions(prompt: "a glow circle on a blue background")
        o.width = 64
        o.height = 64
        o.steps = 2
        let expected = try #require(try s.pipeline.generate(o).first).image.pixels
        s.pipeline.embeddingLibrary = nil
        let asWords = try #require(try s.pipeline.generate(o).first).image.pixels
        s.pipeline.embeddingLibrary = EmbeddingLibrary(directory: s.folder)
        #expect(expected != asWords)
        try await withServer(configuration(s), generator: s.pipeline) { client in
            let response = try await client.postJSON(
                "/v1/images/generations",
                #"{"prompt": "a glow circle on a blue background", "size": "64x64", "steps": 2, "response_format": "b64_json"}"#)
            #expect(response.status == .ok, "\(response.text)")
            #expect(try firstPicture(response) == expected)

            let bad = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": "x", "negative_prompt": "junk", "size": "64x64", "steps": 1}"#)
            #expect(bad.status == .badRequest, "\(bad.text)")
            #expect(bad.error?.param == "negative_prompt", "\(bad.text)")
            #expect(bad.text.contains("junk.safetensors") && !bad.text.contains(s.folder), "\(bad.text)")

            let list = try await client.execute(uri: "/v1/embeddings", method: .get)
            let entries = try list.decode(EmbeddingList.self).data
            #expect(entries.map(\.name) == ["glow", "junk", "sd1style", "xlstyle"])
            #expect(entries.map(\.family) == ["other", nil, "sd1", "sdxl"])
            #expect(entries.map(\.vectors) == [2, nil, 1, 3])
            #expect(entries[1].error?.contains("junk.safetensors") == true)
            let post = try await client.execute(uri: "/v1/embeddings", method: .post)
            #expect(post.status == .methodNotAllowed)
        }
    }
}
