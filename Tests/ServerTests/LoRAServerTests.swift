@testable import Diffusion
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import Server
import Tensor
import TestSupport
import Testing

/// LoRAs through the server: the `lora` field (stable-diffusion.cpp's server's list, and
/// `NAME:WEIGHT` strings, in JSON and multipart), `<lora:NAME:WEIGHT>` in the prompt, `GET
/// /v1/loras`, and bad names; each way gives the picture the library gives. (The LoRA's numbers
/// are checked against diffusers in DiffusionTests; here it is a seeded one for the built-in model.)
@Suite(.serialized) struct LoRAServerTests {
    struct Setup: Sendable {
        let folder: String
        let pipeline: DiffusionPipeline
    }

    /// A LoRA folder with `style.safetensors` (kohya names in LDM paths: two attention projections
    /// of the UNet and one of the text encoder, rank 4) and the built-in model reading it.
    static let setup = Result { () throws -> Setup in
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lora-server-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let pipeline = try DiffusionPipeline()
        var writer = SafetensorsWriter()
        let layers = [
            ("lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q", "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q"),
            ("lora_unet_output_blocks_3_1_transformer_blocks_0_attn2_to_v", "model.diffusion_model.output_blocks.3.1.transformer_blocks.0.attn2.to_v"),
            ("lora_te_text_model_encoder_layers_1_self_attn_k_proj", "cond_stage_model.transformer.text_model.encoder.layers.1.self_attn.k_proj"),
        ]
        for (i, (module, layer)) in layers.enumerated() {
            let shape = try #require(pipeline.checkpoint.index.tensors[layer + ".weight"]?.shape)
            writer.add("\(module).lora_down.weight", pseudoRandomTensor([4, shape[1]], seed: UInt64(10 + i), scale: 0.5), as: .f16)
            writer.add("\(module).lora_up.weight", pseudoRandomTensor([shape[0], 4], seed: UInt64(20 + i), scale: 0.5), as: .f16)
        }
        try writer.write(to: folder + "/style.safetensors")
        pipeline.loraLibrary = LoRALibrary(directory: folder)
        return Setup(folder: folder, pipeline: pipeline)
    }

    func configuration(_ s: Setup) -> ServerConfiguration {
        var configuration = testConfiguration()
        configuration.loraModelDirectory = s.folder
        return configuration
    }

    func options(_ loras: [LoRAUse]) -> GenerationOptions {
        var o = GenerationOptions(prompt: "a red circle on a blue background")
        o.width = 64
        o.height = 64
        o.steps = 2
        o.loras = loras
        return o
    }

    @Test func everyWayOfAskingGivesTheLibrarysPicture() async throws {
        let s = try Self.setup.get()
        let expected = try #require(try s.pipeline.generate(options([LoRAUse(name: "style", multiplier: 0.8)])).first).image.pixels
        let plain = try #require(try s.pipeline.generate(options([])).first).image.pixels
        #expect(expected != plain)
        let base = #""prompt": "a red circle on a blue background", "size": "64x64", "steps": 2, "response_format": "b64_json""#
        try await withServer(configuration(s), generator: s.pipeline) { client in
            for lora in [#""lora": [{"path": "style", "multiplier": 0.8}]"#, #""lora": ["style:0.8"]"#, #""lora": [{"name": "style.safetensors", "weight": 0.8}]"#] {
                let response = try await client.postJSON("/v1/images/generations", "{\(base), \(lora)}")
                #expect(response.status == .ok, "\(lora): \(response.text)")
                #expect(try firstPicture(response) == expected, "\(lora)")
            }
            let tagged = try await client.postJSON(
                "/v1/images/generations",
                #"{"prompt": "a red circle on a blue background <lora:style:0.8>", "size": "64x64", "steps": 2, "response_format": "b64_json"}"#)
            #expect(try firstPicture(tagged) == expected)

            var form = MultipartBuilder()
            form.add("prompt", "a red circle on a blue background")
            form.add("size", "64x64")
            form.add("steps", "2")
            form.add("lora", "style:0.8")
            form.add("response_format", "b64_json")
            let multipart = try await client.postForm("/v1/images/generations", form)
            #expect(multipart.status == .ok, "\(multipart.text)")
            #expect(try firstPicture(multipart) == expected)

            // Nothing stays behind for the next request.
            let after = try await client.postJSON("/v1/images/generations", "{\(base)}")
            #expect(try firstPicture(after) == plain)

            let list = try await client.execute(uri: "/v1/loras", method: .get)
            #expect(try list.decode(LoRAList.self).data.map(\.name) == ["style"])
        }
    }

    @Test(arguments: [
        (#""lora": [{"path": "nothing"}]"#, "lora"),
        (#""lora": [{"path": "../style"}]"#, "lora"),
        (#""lora": ["style:loud"]"#, "lora"),
        (#""lora": [{"multiplier": 1}]"#, "lora"),
        (#""lora": [{"path": "style", "multiplier": 99}]"#, "lora"),
        (#""lora": 5"#, "lora"),
        (#""prompt": "x <lora:nothing:1>""#, "prompt"),
        (#""prompt": "x <lora:/etc/passwd:1>""#, "prompt"),
    ])
    func badLoRAsAreNamed(fields: String, field: String) async throws {
        let s = try Self.setup.get()
        let body = fields.contains("\"prompt\"") ? #"{\#(fields), "size": "64x64", "steps": 1}"# : #"{"prompt": "x", "size": "64x64", "steps": 1, \#(fields)}"#
        try await withServer(configuration(s), generator: s.pipeline) { client in
            let response = try await client.postJSON("/v1/images/generations", body)
            #expect(response.status == .badRequest, "\(fields): \(response.text)")
            #expect(response.error?.param == field, "\(fields): \(response.text)")
        }
    }
}
