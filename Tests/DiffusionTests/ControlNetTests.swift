import Foundation
import Samplers
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// ControlNet against diffusers' own ControlNet pipelines. Goldens:
/// Tests/Golden/generate_controlnet_goldens.py (`StableDiffusionControlNetPipeline` over the
/// built-in model with a ControlNet made by `ControlNetModel.from_unet` and then perturbed;
/// `StableDiffusionXLControlNetPipeline` over a tiny random SDXL UNet and ControlNet; both with
/// `EulerDiscreteScheduler` at 4 steps, whose sigmas are the discrete schedule's, and torch CPU
/// `randn` initial latents). Measured: residuals NMSE 2e-15 to 1e-12 (max abs 1e-6), the
/// controlled SDXL UNet output 1e-12, final latents 2.2e-12 and 8e-12 (SD 1.x) and 3.6e-12 (SDXL;
/// max abs 1.2e-4 on a latent of std ~20). Tolerances: 1e-10 (one evaluation) and 1e-9 (four steps),
/// ~100x the measured worst case and far below the 1e-5 the issue allows.
@Suite(.serialized, .float32Arithmetic) struct ControlNetTests {
    static let sd1Golden = Result { try SafetensorsFile(path: fixturePath("controlnet_sd1_tiny_shapes.safetensors")) }
    static let sdxlGolden = Result { try SafetensorsFile(path: fixturePath("controlnet_sdxl_tiny.safetensors")) }

    /// A temporary folder that is removed with its files; loaded weights stay memory-mapped.
    static func temporaryFolder(_ name: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// The SD 1.x ControlNet as a user's ControlLDM file: the built-in UNet's encoder
    /// (`time_embed`, `input_blocks`, `middle_block`) under `control_model.`, with the fixture's
    /// tensors (hint encoder, zero convolutions, the perturbed encoder tensors) in place of or
    /// beside them. `prefix` "" writes the names without `control_model.`; `edit` changes the
    /// tensor list before writing (to corrupt it).
    static func writeSD1ControlNet(
        to path: String, prefix: String = "control_model.", edit: (inout [String: StoredTensor]) -> Void = { _ in }
    ) throws {
        let golden = try sd1Golden.get()
        let model = try SafetensorsFile(path: try BuiltInModel.checkpointPath())
        var tensors: [String: StoredTensor] = [:]
        let unet = "model.diffusion_model."
        for (key, t) in model.tensors where ["time_embed.", "input_blocks.", "middle_block."].contains(where: { key.hasPrefix(unet + $0) }) {
            tensors[String(key.dropFirst(unet.count))] = t
        }
        for (key, t) in golden.tensors where key.hasPrefix("weights.control_model.") {
            tensors[String(key.dropFirst("weights.control_model.".count))] = t
        }
        edit(&tensors)
        var writer = SafetensorsWriter()
        for (name, t) in tensors { writer.add(prefix + name, dtype: t.dtype, shape: t.shape, encodedBytes: Array(t.bytes)) }
        try writer.write(to: path)
    }

    static let sd1 = Result { () throws -> DiffusionPipeline in
        let folder = try temporaryFolder("controlnet-sd1")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("control_tiny.safetensors").path
        try writeSD1ControlNet(to: path)
        return try DiffusionPipeline(controlNet: path)
    }

    static func picture(_ golden: SafetensorsFile, _ name: String) throws -> RGBImage {
        let t = try golden.tensor(name).toTensor()  // [H, W, 3] uint8 values
        return RGBImage(width: t.shape[1], height: t.shape[0], pixels: t.scalars.map { UInt8($0) })
    }

    /// Every residual of one evaluation against the golden's.
    func expectResiduals(_ r: ControlResiduals, _ golden: SafetensorsFile, tolerance: Double) throws {
        let count = golden.tensors.keys.filter { $0.hasPrefix("residuals.skip.") }.count
        #expect(r.skips.count == count)
        for (i, skip) in r.skips.enumerated() {
            let reference = try golden.tensor("residuals.skip.\(i)").toTensor()
            #expect(skip.shape == reference.shape)
            #expect(nmse(skip, reference) <= tolerance, "skip \(i): \(describeDifference(skip, reference))")
        }
        let middle = try golden.tensor("residuals.middle").toTensor()
        #expect(nmse(r.middle, middle) <= tolerance, "middle: \(describeDifference(r.middle, middle))")
    }

    // MARK: SD 1.x

    @Test func sd1ResidualsMatchDiffusers() throws {
        let golden = try Self.sd1Golden.get()
        let controlNet = try #require(try Self.sd1.get().components.controlNet)
        #expect(controlNet.downscale == 8 && controlNet.config.levelChannels == [64, 128, 128])
        let hint = controlNet.encodeHint(try Self.picture(golden, "input.control_128").unitTensor())
        let residuals = controlNet.residuals(
            try golden.tensor("input.x").toTensor(), timesteps: try golden.tensor("input.t").toTensor().scalars,
            context: try golden.tensor("input.context").toTensor(), added: nil, hint: hint, strength: 1)
        try expectResiduals(residuals, golden, tolerance: 1e-10)
    }

    struct Case: Decodable {
        let prompt: String, negative: String, seed: UInt64, steps: Int, cfg: Float
        let control_strength: Float, control_start: Float, control_end: Float
    }

    func sd1Options(_ name: String) throws -> GenerationOptions {
        let golden = try Self.sd1Golden.get()
        let all = try JSONDecoder().decode([String: Case].self, from: Data((golden.metadata["cases"] ?? "").utf8))
        let c = try #require(all[name])
        var o = GenerationOptions(prompt: c.prompt)
        o.negativePrompt = c.negative
        o.seed = c.seed
        o.steps = c.steps
        o.cfgScale = c.cfg
        o.sampler = .euler
        o.rng = .cpu
        o.controlImage = try Self.picture(golden, "input.control")
        o.controlStrength = c.control_strength
        o.controlStart = c.control_start
        o.controlEnd = c.control_end
        return o
    }

    /// The whole pipeline: prompt encoding, the hint, the ControlNet run with both halves of the
    /// guidance batch, strength and (case "window") steps 1 and 2 of 4 only.
    @Test(arguments: ["full", "window"])
    func sd1GenerationMatchesStableDiffusionControlNetPipeline(name: String) throws {
        let pipeline = try Self.sd1.get()
        let options = try sd1Options(name)
        let latent = try #require(try pipeline.generate(options).first).latent
        let reference = try Self.sd1Golden.get().tensor("\(name).output.latent").toTensor()
        #expect(latent.shape == reference.shape)
        #expect(nmse(latent, reference) <= 1e-9, "latent: \(describeDifference(latent, reference))")

        // The control must matter, or the comparison above proves nothing.
        var plain = options
        plain.controlImage = nil
        let uncontrolled = try #require(try pipeline.generate(plain).first).latent
        #expect(nmse(uncontrolled, reference) > 1e-4)
    }

    @Test func controlNetFilesWithoutThePrefixLoadTheSame() throws {
        let folder = try Self.temporaryFolder("controlnet-bare")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("bare.safetensors").path
        try Self.writeSD1ControlNet(to: path, prefix: "")
        let unet = try Self.sd1.get().unet.config
        let bare = try ControlNet.load(path: path, for: unet)
        let golden = try Self.sd1Golden.get()
        let hint = bare.encodeHint(try Self.picture(golden, "input.control_128").unitTensor())
        let residuals = bare.residuals(
            try golden.tensor("input.x").toTensor(), timesteps: try golden.tensor("input.t").toTensor().scalars,
            context: try golden.tensor("input.context").toTensor(), added: nil, hint: hint, strength: 1)
        try expectResiduals(residuals, golden, tolerance: 1e-10)
    }

    /// The same ControlNet as a GGUF file (as stable-diffusion.cpp converts one): f16 as stored
    /// gives the same residuals bit for bit; q8_0 for the layers whose rows split into 32-value
    /// blocks (ggml's rule) stays close.
    @Test func ggufControlNetsLoad() throws {
        let folder = try Self.temporaryFolder("controlnet-gguf")
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("control.safetensors").path
        try Self.writeSD1ControlNet(to: source)
        let unet = try Self.sd1.get().unet.config
        let golden = try Self.sd1Golden.get()
        let x = try golden.tensor("input.x").toTensor(), t = try golden.tensor("input.t").toTensor().scalars
        let context = try golden.tensor("input.context").toTensor()
        let picture = try Self.picture(golden, "input.control_128").unitTensor()
        func residuals(_ net: ControlNet) -> ControlResiduals {
            net.residuals(x, timesteps: t, context: context, added: nil, hint: net.encodeHint(picture), strength: 1)
        }
        let reference = residuals(try ControlNet.load(path: source, for: unet))
        let tensors = try SafetensorsFile(path: source).tensors
        for quantized in [false, true] {
            var writer = GGUFWriter()
            var quantizedCount = 0
            for (name, stored) in tensors.sorted(by: { $0.key < $1.key }) {
                if quantized && stored.shape.count == 2 && stored.shape[1] % 32 == 0 {
                    try writer.addTensor(name, try stored.toTensor(), as: .q8_0)
                    quantizedCount += 1
                } else {
                    try writer.addTensor(name, dtype: stored.dtype, shape: stored.shape, bytes: Array(stored.bytes))
                }
            }
            let path = folder.appendingPathComponent(quantized ? "control-q8_0.gguf" : "control-f16.gguf").path
            try writer.write(to: path)
            let r = residuals(try ControlNet.load(path: path, for: unet))
            if quantized {
                #expect(quantizedCount > 20)
                try expectResiduals(r, golden, tolerance: 1e-4)
            } else {
                #expect(r.skips.map(\.scalars) == reference.skips.map(\.scalars) && r.middle.scalars == reference.middle.scalars)
            }
        }
    }

    // MARK: SDXL

    struct SDXLModels {
        let unet: UNet
        let controlNet: ControlNet
        let golden: SafetensorsFile
    }

    /// The tiny SDXL UNet (diffusers names, renamed by `KeyMap`) and its ControlNet written as a
    /// diffusers single file, as SDXL ControlNets are released.
    static let sdxl = Result { () throws -> SDXLModels in
        let golden = try sdxlGolden.get()
        var unetTensors: [String: StoredTensor] = [:]
        var writer = SafetensorsWriter()
        for (key, t) in golden.tensors {
            if key.hasPrefix("weights.unet.") { unetTensors["unet/" + key.dropFirst("weights.unet.".count)] = t }
            if key.hasPrefix("weights.controlnet.") {
                writer.add(String(key.dropFirst("weights.controlnet.".count)), dtype: t.dtype, shape: t.shape, encodedBytes: Array(t.bytes))
            }
        }
        let index = WeightIndex(source: "controlnet_sdxl_tiny", tensors: try Checkpoint.canonicalTensors(unetTensors, source: "unet"))
        let w = index.weights("model.diffusion_model")
        let unet = try UNet(w, config: UNetConfig(detectingFrom: w, attention: .headWidth(4), normGroups: 4))
        try index.checkAllConsumed()
        let folder = try temporaryFolder("controlnet-sdxl")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("diffusion_pytorch_model.safetensors").path
        try writer.write(to: path)
        return SDXLModels(unet: unet, controlNet: try ControlNet.load(path: path, for: unet.config), golden: golden)
    }

    @Test func sdxlResidualsAndControlledUNetMatchDiffusers() throws {
        let m = try Self.sdxl.get()
        #expect(m.controlNet.config.addedConditionChannels == 16 + 6 * 8 && m.controlNet.config.levelChannels == [8, 16])
        let x = try m.golden.tensor("input.x").toTensor(), t = try m.golden.tensor("input.t").toTensor().scalars
        let context = try m.golden.tensor("input.context").toTensor(), added = try m.golden.tensor("input.added").toTensor()
        let hint = m.controlNet.encodeHint(try Self.picture(m.golden, "input.control").unitTensor())
        let residuals = m.controlNet.residuals(x, timesteps: t, context: context, added: added, hint: hint, strength: 1)
        try expectResiduals(residuals, m.golden, tolerance: 1e-10)

        let scaled = m.controlNet.residuals(x, timesteps: t, context: context, added: added, hint: hint, strength: 0.7)
        let out = m.unet(x, timesteps: t, context: context, added: added, control: scaled)
        let reference = try m.golden.tensor("unet.output").toTensor()
        #expect(nmse(out, reference) <= 1e-10, "UNet output: \(describeDifference(out, reference))")
    }

    /// The driver's pieces (guidance batch, eps parameterization over the SD table, the discrete
    /// schedule, euler, the ControlSignal advanced by the step callback) against
    /// `StableDiffusionXLControlNetPipeline` given the same prompt embeddings.
    @Test func sdxlSamplingMatchesStableDiffusionXLControlNetPipeline() throws {
        let m = try Self.sdxl.get()
        let g = m.golden
        let signal = ControlSignal(
            controlNet: m.controlNet, hint: m.controlNet.encodeHint(try Self.picture(g, "input.control").unitTensor()),
            strength: 0.7, stepCount: 4)
        let predictor = GuidedNoisePredictor(
            network: m.unet,
            cond: Conditioning(context: try g.tensor("input.context").toTensor(), added: try g.tensor("input.added").toTensor()),
            uncond: Conditioning(
                context: try g.tensor("input.uncond_context").toTensor(), added: try g.tensor("input.uncond_added").toTensor()),
            scale: 4, extras: NetworkExtras(control: signal))
        let parameterization = EpsilonParameterization(table: .stableDiffusion)
        let sigmas = ScheduleKind.discrete.makeSchedule(ays: .sdxl).sigmas(steps: 4, table: parameterization.table)
        var rng = RNGKind.cpu.makeSource(seed: 7)
        let x = Tensor.weightedSum((sigmas[0], rng.normal(shape: [1, 4, 8, 8])))
        let latent = try EulerSampler().sample(
            x, sigmas: sigmas, denoiser: ParameterizedDenoiser(predictor, parameterization: parameterization), noise: &rng
        ) { signal.step = $0.index + 1 }
        let reference = try g.tensor("output.latent").toTensor()
        #expect(nmse(latent, reference) <= 1e-9, "latent: \(describeDifference(latent, reference))")
    }

    // MARK: Steps, fit and bad input

    @Test func stepWindowFollowsDiffusersControlGuidanceStartAndEnd() throws {
        let m = try Self.sdxl.get()
        let hint = Tensor(shape: [1, 8, 8, 8], values: .init(repeating: 0, count: 512))
        func active(_ start: Float, _ end: Float, _ n: Int) -> Range<Int> {
            ControlSignal(controlNet: m.controlNet, hint: hint, strength: 1, start: start, end: end, stepCount: n).activeSteps
        }
        #expect(active(0, 1, 20) == 0..<20)
        #expect(active(0.25, 0.75, 4) == 1..<3)
        #expect(active(0.1, 0.5, 20) == 2..<10)
        #expect(active(0.5, 0.5, 4).isEmpty)
    }

    @Test func aControlNetOfAnotherArchitectureIsRefusedNamingBoth() throws {
        let folder = try Self.temporaryFolder("controlnet-xl-for-sd1")
        defer { try? FileManager.default.removeItem(at: folder) }
        var writer = SafetensorsWriter()
        for (key, t) in try Self.sdxlGolden.get().tensors where key.hasPrefix("weights.controlnet.") {
            writer.add(String(key.dropFirst("weights.controlnet.".count)), dtype: t.dtype, shape: t.shape, encodedBytes: Array(t.bytes))
        }
        let path = folder.appendingPathComponent("xl.safetensors").path
        try writer.write(to: path)
        do {
            _ = try DiffusionPipeline(controlNet: path)
            Issue.record("an SDXL ControlNet was accepted for the SD 1.x built-in model")
        } catch let error as ControlNetError {
            guard case .doesNotFit(let file, let reason) = error else { return }
            #expect(file == path)
            #expect(reason.contains("SDXL") && reason.contains("widths 8/16") && reason.contains("widths 64/128/128"), "\(reason)")
        }
    }

    @Test func corruptControlNetFilesAreTypedErrorsNamingTheTensor() throws {
        let folder = try Self.temporaryFolder("controlnet-corrupt")
        defer { try? FileManager.default.removeItem(at: folder) }
        let unet = try Self.sd1.get().unet.config
        let path = folder.appendingPathComponent("corrupt.safetensors").path

        try Self.writeSD1ControlNet(to: path) { $0["zero_convs.3.0.weight"] = nil }
        #expect(throws: WeightError.missingTensor(file: path, tensor: "control_model.zero_convs.3.0.weight")) {
            try ControlNet.load(path: path, for: unet)
        }
        try Self.writeSD1ControlNet(to: path) { $0["zero_convs.2.0.weight"] = $0["zero_convs.3.0.weight"] }  // 128 wide for 64
        #expect {
            try ControlNet.load(path: path, for: unet)
        } throws: { error in
            switch error as? WeightError {
            case .badShape(_, let tensor, _, _), .shapeMismatch(_, let tensor, _, _): tensor.hasPrefix("control_model.zero_convs.2.0.")
            default: false
            }
        }
        try Self.writeSD1ControlNet(to: path) { $0["zero_convs.99.0.weight"] = $0["zero_convs.0.0.weight"] }
        #expect(throws: WeightError.unusedTensors(file: path, tensors: ["control_model.zero_convs.99.0.weight"])) {
            try ControlNet.load(path: path, for: unet)
        }
        // Not a ControlNet at all (the built-in model itself).
        #expect {
            try ControlNet.load(path: try BuiltInModel.checkpointPath(), for: unet)
        } throws: { error in
            guard case .badHeader(_, let reason) = error as? WeightError else { return false }
            return reason.contains("no ControlNet tensors")
        }
    }

    @Test func aControlImageWithoutAControlNetNamesTheField() throws {
        let pipeline = try #require(PipelineTests.pipeline)
        var o = GenerationOptions(prompt: "a red circle")
        o.steps = 1
        o.controlImage = RGBImage(width: 8, height: 8, pixels: .init(repeating: 255, count: 192))
        #expect {
            try pipeline.generate(o)
        } throws: { error in
            guard case .invalidOption(let field, _) = error as? GenerationError else { return false }
            return field == "control_image"
        }
        var canny = GenerationOptions(prompt: "a red circle")
        canny.cannyPreprocessing = true
        #expect(throws: GenerationError.invalidOption(field: "control_image", reason: "is missing: apply_canny_preprocessor needs one")) {
            try canny.validate()
        }
    }
}
