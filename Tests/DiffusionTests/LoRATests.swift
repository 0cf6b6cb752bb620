import Foundation
import Samplers
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// LoRA against diffusers' `load_lora_weights`. Golden: Tests/Golden/generate_lora_goldens.py
/// (the built-in model; a kohya-ss LoRA + LoCon over attention, feed-forward, proj_in/out, the res
/// blocks' convolutions and the text encoder, checked there against the same deltas merged into
/// the weights by hand; a diffusers / PEFT LoRA; the ControlNet goldens' 4-step euler run).
/// Measured: UNet output NMSE 1.0e-13 and 1.2e-13, text encoder 3.2e-14 and 3.3e-14, final latent
/// 2.8e-11 and 3.1e-11 (kohya, PEFT); tolerances 1e-10 and 1e-9, far below the issue's 1e-5.
@Suite(.serialized, .float32Arithmetic) struct LoRATests {
    static let golden = Result { try SafetensorsFile(path: fixturePath("lora_tiny_shapes.safetensors")) }
    static let prompt = "a red circle on a blue background"

    /// The fixture's LoRAs written as the files a user has (`kohya.safetensors`,
    /// `peft.safetensors`) in a LoRA folder, and a pipeline of the built-in model reading it.
    struct Setup {
        let folder: URL
        let pipeline: DiffusionPipeline
    }

    static let setup = Result { () throws -> Setup in
        let fixture = try LoRATests.golden.get()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for format in ["kohya", "peft", "loha", "lokr"] {
            var writer = SafetensorsWriter()
            let prefix = "lora.\(format)."
            for (key, t) in fixture.tensors where key.hasPrefix(prefix) {
                writer.add(String(key.dropFirst(prefix.count)), dtype: t.dtype, shape: t.shape, encodedBytes: Array(t.bytes))
            }
            try writer.write(to: folder.appendingPathComponent("\(format).safetensors").path)
        }
        let pipeline = try DiffusionPipeline()
        pipeline.loraLibrary = LoRALibrary(directory: folder.path)
        return Setup(folder: folder, pipeline: pipeline)
    }

    struct Case: Decodable {
        let seed: UInt64, steps: Int, cfg: Float, multiplier: Float, modules: Int
    }

    static func settings(_ format: String) throws -> Case {
        let all = try JSONDecoder().decode([String: Case].self, from: Data((try golden.get().metadata["cases"] ?? "").utf8))
        return try #require(all[format])
    }

    func adapters(_ format: String) throws -> LayerAdapters {
        let s = try Self.setup.get()
        let file = try #require(s.pipeline.loraLibrary).file(named: format)
        #expect(file.modules.count == (try Self.settings(format)).modules)
        return try LoRAAdapters.make([(file, try Self.settings(format).multiplier)], for: s.pipeline.checkpoint.index)
    }

    func options(_ format: String) throws -> GenerationOptions {
        let c = try Self.settings(format)
        var o = GenerationOptions(prompt: Self.prompt)
        o.seed = c.seed
        o.steps = c.steps
        o.cfgScale = c.cfg
        o.sampler = .euler
        o.rng = .cpu
        o.loras = [LoRAUse(name: format, multiplier: c.multiplier)]
        return o
    }

    @Test(arguments: ["kohya", "peft"])
    func unetAndTextEncoderMatchDiffusers(format: String) throws {
        let s = try Self.setup.get(), g = try Self.golden.get()
        let x = try g.tensor("input.x").toTensor(), t = try g.tensor("input.t").toTensor().scalars
        let context = try g.tensor("input.context").toTensor()
        let adapters = try adapters(format)
        let out = adapters.withValue { s.pipeline.unet(x, timesteps: t, context: context) }
        let reference = try g.tensor("\(format).unet.output").toTensor()
        #expect(nmse(out, reference) <= 1e-10, "UNet: \(describeDifference(out, reference))")
        // The LoRA must matter, or the comparison proves nothing; and outside its scope it is gone.
        let plain = try g.tensor("plain.unet.output").toTensor()
        #expect(nmse(plain, reference) > 1e-4)
        let after = s.pipeline.unet(x, timesteps: t, context: context)
        #expect(nmse(after, plain) <= 1e-10, "after the scope: \(describeDifference(after, plain))")

        let text = try adapters.withValue { () throws -> Conditioning in
            try s.pipeline.encode(Self.prompt, clipSkip: nil, width: 256, height: 256, isNegative: false)
        }
        let textReference = try g.tensor("\(format).text.output").toTensor()
        #expect(nmse(text.context, textReference) <= 1e-10, "text encoder: \(describeDifference(text.context, textReference))")
    }

    /// LyCORIS LoHa (Hadamard product of two low-rank pairs) and LoKr (Kronecker product, one
    /// factor decomposed), against their deltas merged into the weights by hand.
    @Test(arguments: ["loha", "lokr"])
    func lycorisModulesMatchTheirMergedDeltas(format: String) throws {
        let s = try Self.setup.get(), g = try Self.golden.get()
        let x = try g.tensor("input.x").toTensor(), t = try g.tensor("input.t").toTensor().scalars
        let context = try g.tensor("input.context").toTensor()
        let file = try #require(s.pipeline.loraLibrary).file(named: format)
        #expect(file.modules.count == (format == "loha" ? 4 : 2))
        let adapters = try LoRAAdapters.make([(file, 0.7)], for: s.pipeline.checkpoint.index)
        let out = adapters.withValue { s.pipeline.unet(x, timesteps: t, context: context) }
        let reference = try g.tensor("\(format).unet.output").toTensor()
        #expect(nmse(out, reference) <= 1e-10, "UNet: \(describeDifference(out, reference))")
        #expect(nmse(try g.tensor("plain.unet.output").toTensor(), reference) > 1e-6)
    }

    @Test(arguments: ["kohya", "peft"])
    func generationMatchesDiffusersWithTheLoRALoaded(format: String) throws {
        let s = try Self.setup.get()
        let latent = try #require(try s.pipeline.generate(try options(format)).first).latent
        let reference = try Self.golden.get().tensor("\(format).output.latent").toTensor()
        #expect(nmse(latent, reference) <= 1e-9, "latent: \(describeDifference(latent, reference))")
    }

    /// SDXL end to end: a kohya-ss LoRA + LoCon over the tiny SDXL's UNet and both text encoders
    /// (`lora_te1_`, `lora_te2_`), against diffusers' `load_lora_weights` on the same model
    /// (Tests/Golden/generate_lora_sdxl_goldens.py; checked there against the deltas merged by
    /// hand) and k-diffusion's euler run. Measured: context NMSE 3.2e-14 / 3.5e-14 (prompt,
    /// negative), added vector 1.4e-14 / 1.3e-14, final latent 6.8e-12.
    @Test func sdxlGenerationMatchesDiffusersWithTheLoRALoaded() throws {
        let golden = try SafetensorsFile(path: fixturePath("lora_sdxl_tiny.safetensors"))
        struct Settings: Decodable {
            let prompt: String, negative: String, seed: UInt64, steps: Int, cfg: Float, width: Int, height: Int
            let multiplier: Float, modules: Int
        }
        let c = try JSONDecoder().decode(Settings.self, from: Data((golden.metadata["case"] ?? "").utf8))
        let model = try PipelineXLSD2Tests.TinyModel("pipeline_sdxl_tiny")
        try withTemporaryFolder { folder in
            var writer = SafetensorsWriter()
            for (key, t) in golden.tensors where key.hasPrefix("lora.sdxl.") {
                writer.add(String(key.dropFirst("lora.sdxl.".count)), dtype: t.dtype, shape: t.shape, encodedBytes: Array(t.bytes))
            }
            try writer.write(to: folder + "/sdxl.safetensors")
            let library = LoRALibrary(directory: folder)
            model.pipeline.loraLibrary = library
            let file = try library.file(named: "sdxl")
            #expect(file.modules.count == c.modules)

            let adapters = try LoRAAdapters.make([(file, c.multiplier)], for: model.pipeline.checkpoint.index)
            for (prompt, isNegative, suffix) in [(c.prompt, false, ""), (c.negative, true, "uncond_")] {
                let encoded = try adapters.withValue {
                    try model.pipeline.encode(prompt, clipSkip: nil, width: c.width, height: c.height, isNegative: isNegative)
                }
                let context = try golden.tensor("sdxl.output.\(suffix)context").toTensor()
                let added = try golden.tensor("sdxl.output.\(suffix)added").toTensor()
                #expect(nmse(encoded.context, context) <= 1e-12, "\(suffix)context: \(describeDifference(encoded.context, context))")
                let actual = try #require(encoded.added)
                #expect(nmse(actual, added) <= 1e-12, "\(suffix)added: \(describeDifference(actual, added))")
            }

            var o = GenerationOptions(prompt: c.prompt)
            o.negativePrompt = c.negative
            o.seed = c.seed
            o.steps = c.steps
            o.cfgScale = c.cfg
            o.width = c.width
            o.height = c.height
            o.sampler = .euler
            o.rng = .cpu
            o.loras = [LoRAUse(name: "sdxl", multiplier: c.multiplier)]
            let picture = try #require(try model.pipeline.generate(o).first)
            let latent = picture.latent
            #expect(picture.parameters.contains("Lora hashes: \"sdxl: \(try FileHash.lora(folder + "/sdxl.safetensors"))\""), "\(picture.parameters)")
            let reference = try golden.tensor("sdxl.output.latent").toTensor()
            #expect(nmse(latent, reference) <= 1e-10, "latent: \(describeDifference(latent, reference))")
            o.loras = []
            let plain = try #require(try model.pipeline.generate(o).first).latent
            #expect(nmse(plain, reference) > 1e-4, "the LoRA makes no difference")
        }
    }

    /// A1111's prompt tag is the field by another name: the same picture bit for bit, and the tag's
    /// text is not encoded.
    @Test func promptTagEqualsTheField() throws {
        let s = try Self.setup.get()
        let field = try #require(try s.pipeline.generate(try options("kohya")).first)
        var tagged = try options("kohya")
        tagged.loras = []
        tagged.prompt = Self.prompt + " <lora:kohya:\(try Self.settings("kohya").multiplier)>"
        let fromTag = try #require(try s.pipeline.generate(tagged).first)
        #expect(fromTag.latent.scalars == field.latent.scalars)
    }

    /// Requests with different LoRAs on one shared model, interleaved on two threads: each gets the
    /// picture it gets alone, and a request without a LoRA in between is unchanged.
    @Test func concurrentRequestsWithDifferentLoRAsDoNotLeak() throws {
        let s = try Self.setup.get()
        var plainOptions = try options("kohya")
        plainOptions.loras = []
        plainOptions.steps = 2
        var kohya = try options("kohya"), peft = try options("peft")
        kohya.steps = 2
        peft.steps = 2
        let alone = try [kohya, peft, plainOptions].map { try #require(try s.pipeline.generate($0).first).latent.scalars }
        let results = ResultBox()
        let group = DispatchGroup()
        for (i, o) in [kohya, peft, plainOptions, peft, kohya, plainOptions].enumerated() {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                // A new thread has none of the test's task-locals: set the suite's arithmetic again.
                let latent = WeightMatrix.withEncodedWeightPrecision(.float32) { (try? s.pipeline.generate(o).first?.latent.scalars) ?? [] }
                results.set(i, latent)
            }
        }
        group.wait()
        let expected = [alone[0], alone[1], alone[2], alone[1], alone[0], alone[2]]
        for i in 0..<6 {
            let got = results.get(i) ?? []
            #expect(got == expected[i], "request \(i) differs from its run alone: NMSE \(got.count == expected[i].count ? nmse(got, expected[i]) : -1)")
        }
    }

    final class ResultBox: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Int: [Float]] = [:]
        func set(_ i: Int, _ v: [Float]) { lock.withLock { values[i] = v } }
        func get(_ i: Int) -> [Float]? { lock.withLock { values[i] } }
    }

    // MARK: Names and bad input

    /// Every UNet and text-encoder weight of real SD 1.5 and SDXL files, named as kohya-ss
    /// writes LoRA modules (diffusers paths with `_`; LDM paths for SDXL trainers), resolves onto
    /// the single file's layer that `KeyMap` gives the diffusers name; SDXL's bigG q/k/v land on
    /// thirds of its fused in_proj.
    @Test(arguments: ["sd15", "sdxl"]) func kohyaNamesOfRealModelsResolve(model: String) throws {
        let ldm = try KeyList("\(model)_ldm"), diffusers = try KeyList("\(model)_diffusers")
        try withTemporaryFolder { folder in
            try writeHeaderOnlySafetensors(ldm.shapes, to: folder + "/model.safetensors")
            let index = try Checkpoint(path: folder + "/model.safetensors").index
            let resolver = LoRAKeyResolver(index: index)
            let map = KeyMap(inferringLayoutFrom: diffusers.shapes.keys)
            var checked = 0, fused = 0
            for (name, shape) in diffusers.shapes where name.hasSuffix(".weight") && shape.count >= 2 {
                let parts: [(String, String)] = [("unet/", "lora_unet_"), ("text_encoder/", model == "sdxl" ? "lora_te1_" : "lora_te_"), ("text_encoder_2/", "lora_te2_")]
                guard let (part, prefix) = parts.first(where: { name.hasPrefix($0.0) }) else { continue }
                let path = name.dropFirst(part.count).dropLast(".weight".count)
                // Embeddings and bigG's projection matrix are no Linear layers: nothing adapts them.
                if path.hasSuffix("embedding") || path.contains("embeddings.") || path == "text_projection" { continue }
                let kohya = prefix + path.replacingOccurrences(of: ".", with: "_")
                let target = try #require(resolver.target(of: kohya), "\(kohya) resolved to nothing")
                let canonical = String(map.canonicalName(name).dropLast(".weight".count))
                if target.key == canonical {
                    #expect(target.outputOffset == 0)
                } else {
                    // SDXL's bigG is fused in the single file.
                    #expect(target.key.hasSuffix("self_attn.in_proj") && canonical.contains("self_attn."), "\(kohya): \(target.key) vs \(canonical)")
                    fused += 1
                }
                checked += 1
            }
            // Every weight of the lists but norms, embeddings, bigG.s projection and the VAE.s.
            #expect(checked == (model == "sdxl" ? 1058 : 354))
            #expect(fused == (model == "sdxl" ? 32 * 3 : 0))
            // LDM paths (kohya-ss's own SDXL UNet) resolve to themselves.
            for name in ldm.shapes.keys where name.hasPrefix("model.diffusion_model.") && name.hasSuffix(".weight") {
                let path = name.dropFirst("model.diffusion_model.".count).dropLast(".weight".count)
                let target = resolver.target(of: "lora_unet_" + path.replacingOccurrences(of: ".", with: "_"))
                #expect(target?.key == String(name.dropLast(".weight".count)), "\(name)")
            }
        }
    }

    @Test func badLoRAsAreNamedErrors() throws {
        let s = try Self.setup.get()
        func field(of options: GenerationOptions) -> String? {
            do {
                _ = try s.pipeline.generate(options)
                return nil
            } catch GenerationError.invalidOption(let field, _) {
                return field
            } catch {
                return "other: \(error)"
            }
        }
        var o = try options("kohya")
        o.steps = 1
        o.loras = [LoRAUse(name: "missing")]
        #expect(field(of: o) == "lora")
        o.loras = [LoRAUse(name: "../kohya")]
        #expect(field(of: o) == "lora")
        o.loras = [LoRAUse(name: "kohya", multiplier: .nan)]
        #expect(field(of: o) == "lora")
        o.loras = []
        o.prompt = "a circle <lora:missing:1>"
        #expect(field(of: o) == "prompt")
        o.prompt = "a circle <lora:sub/kohya:1>"
        #expect(field(of: o) == "prompt")

        // A module that matches no layer, and one whose shapes do not fit its layer.
        let kohya = try #require(s.pipeline.loraLibrary).file(named: "kohya")
        let stray = LoRAFile.Module(name: "lora_unet_down_blocks_9_attentions_0_proj_in", parts: kohya.modules[0].parts)
        let index = s.pipeline.checkpoint.index
        #expect(throws: LoRAError.noSuchLayer(file: "stray", module: stray.name)) {
            try LoRAAdapters.make([(LoRAFile(path: "stray", modules: [stray]), 1)], for: index)
        }
        let q = try #require(kohya.modules.first { $0.name.hasSuffix("attn1_to_q") && $0.name.contains("down_blocks_1") })
        let k = try #require(kohya.modules.first { $0.name.hasSuffix("attn1_to_q") && $0.name.contains("down_blocks_0") })
        let misfit = LoRAFile.Module(name: q.name, parts: k.parts)  // level 0's 64-wide q on level 1's 128-wide one
        #expect {
            try LoRAAdapters.make([(LoRAFile(path: "misfit", modules: [misfit]), 1)], for: index)
        } throws: { error in
            guard case .shapeMismatch(_, let module, _) = error as? LoRAError else { return false }
            return module == q.name
        }

        // Factors that do not multiply are an error, not a crash in the product.
        let ones = { (shape: [Int]) in Tensor(shape: shape, values: .init(repeating: 1, count: shape.reduce(1, *))) }
        let badLoHa = LoRAFile.Module(
            name: q.name, parts: ["hada_w1_a": ones([128, 4]), "hada_w1_b": ones([5, 128]), "hada_w2_a": ones([128, 4]), "hada_w2_b": ones([4, 128])])
        #expect {
            try LoRAAdapters.make([(LoRAFile(path: "loha", modules: [badLoHa]), 1)], for: index)
        } throws: { error in
            guard case .shapeMismatch = error as? LoRAError else { return false }
            return true
        }

        // No LoRA folder at all.
        let bare = try #require(PipelineTests.pipeline)
        o.prompt = "a circle <lora:kohya:1>"
        #expect {
            try bare.generate(o)
        } throws: { error in
            guard case .invalidOption(let field, let reason) = error as? GenerationError else { return false }
            return field == "prompt" && reason.contains("--lora-model-dir")
        }
    }

    @Test func fileFormatsAndTheirParts() throws {
        #expect(LoRAFile.split("lora_unet_x_to_q.lora_down.weight")! == ("lora_unet_x_to_q", "down"))
        #expect(LoRAFile.split("unet.a.to_q.lora_A.weight")! == ("unet.a.to_q", "down"))
        #expect(LoRAFile.split("unet.a.attn1.processor.to_out_lora.up.weight")! == ("unet.a.attn1.to_out.0", "up"))
        #expect(LoRAFile.split("x.hada_w1_a")! == ("x", "hada_w1_a"))
        #expect(LoRAFile.split("x.weight") == nil)
        #expect(LoRAKeyResolver.dotted("down_blocks_0_resnets_1_time_emb_proj") == "down_blocks.0.resnets.1.time_emb_proj")
        #expect(LoRAKeyResolver.dotted("text_model_encoder_layers_11_self_attn_out_proj") == "text_model.encoder.layers.11.self_attn.out_proj")
        #expect(LoRAKeyResolver.dotted("mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj") == "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj")
        #expect(LoRAKeyResolver.dotted("output_blocks_2_1_conv") == "output_blocks.2.1.conv")
        // LoKr's Kronecker product as torch.kron.
        let a = Tensor(shape: [2, 2], values: [1, 2, 3, 4]), b = Tensor(shape: [1, 2], values: [5, 6])
        #expect(LoRAAdapters.kronecker(a, b).scalars == [5, 6, 10, 12, 15, 18, 20, 24])
    }
}
