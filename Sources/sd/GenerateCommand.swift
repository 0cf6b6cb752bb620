import ArgumentParser
import Diffusion
import Foundation
import Samplers
import Tensor

/// `sd generate`: text-to-image, image-to-image and inpainting from the command line.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate pictures from a prompt (and optionally an init image and a mask).",
        discussion: "Without --model the built-in tiny-shapes model is used (try \"a red circle on a blue background\").")

    @OptionGroup var modelOptions: ModelOptions

    @Flag(help: "Decode the VAE in overlapping tiles (less memory for large pictures).")
    var vaeTiling = false

    @Option(name: [.short, .long], help: "What to draw. A1111 emphasis: (word), [word], (word:1.3).")
    var prompt: String

    @Option(help: "What to avoid.")
    var negativePrompt = ""

    @Option(help: "Sampler: \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: euler_a).")
    var sampler: String?

    @Option(help: "Schedule: \(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: the sampler's).")
    var scheduler: String?

    @Option(help: "Sampling steps (default: 20).")
    var steps: Int?

    @Option(help: "Classifier-free guidance scale; 1 disables the negative pass (default: 7).")
    var cfgScale: Float?

    @Option(help: "Seed; picture i uses seed + i. Negative: random (default: 42).")
    var seed: Int64?

    @Option(help: "Width in pixels, a multiple of 8 (default: the model's native size).")
    var width: Int?

    @Option(help: "Height in pixels, a multiple of 8 (default: the model's native size).")
    var height: Int?

    @Option(name: .short, help: "Number of pictures (default: 1).")
    var n: Int?

    @Option(help: "Noise generator: cuda (stable-diffusion.cpp and A1111 default), cpu (diffusers on a CPU), std_default.")
    var rng: String?

    @Option(help: "CLIP layers to skip, A1111 convention (1 = last layer; default: the model's).")
    var clipSkip: Int?

    @Option(help: "Init image (PNG) for img2img; resized to the output size.")
    var initImage: String?

    @Option(help: "Inpainting mask (PNG, white = repaint), with --init-image.")
    var mask: String?

    @Option(help: "img2img strength, 0 to 1 (default: 0.75).")
    var strength: Float?

    @Option(help: "Control picture (PNG or JPEG) for --control-net; resized to the output size.")
    var controlImage: String?

    @Option(help: "ControlNet strength (default: 0.9).")
    var controlStrength: Float?

    @Option(help: "Fraction of the steps at which the ControlNet starts steering (default: 0).")
    var controlStart: Float?

    @Option(help: "Fraction of the steps at which it stops (default: 1).")
    var controlEnd: Float?

    @Flag(help: "Turn the control picture into Canny edges first (as sd-api-server's apply_canny_preprocessor).")
    var canny = false

    @Option(help: "A LoRA from --lora-model-dir as NAME or NAME:WEIGHT (repeatable; same as <lora:NAME:WEIGHT> in the prompt).")
    var lora: [String] = []

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(name: [.short, .long], help: "Output file: .webp and .jpg/.jpeg by their extension, PNG otherwise; numbered (name-1.png, ...) when n > 1.")
    var output = "output.png"

    @Option(help: "JPEG/WebP quality 0-100, as the API's output_compression (default: JPEG 90, WebP 100 = lossless).")
    var outputCompression: Int?

    @Flag(help: "Keep the UNet's packed weights in memory while decoding (by default a single picture frees them first, lowering the peak by the UNet's size).")
    var keepWeights = false

    @Option(help: "Also save the final latent (before decoding) as safetensors.")
    var saveLatent: String?

    func run() throws {
        TensorStorage.useSingleHeapArena()
        // Any other extension keeps writing PNG, as before there was a choice.
        let format = ImageFileFormat(pathExtension: URL(fileURLWithPath: output).pathExtension) ?? .png
        if let outputCompression, !(0...100).contains(outputCompression) {
            throw ValidationError("--output-compression must be between 0 and 100")
        }
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            Parallel.threadCount = threads
        }
        // The server's mapping, so a flag and the request field of the same name mean the same.
        var request = GenerationRequest(prompt: prompt)
        request.negativePrompt = negativePrompt
        request.sampler = sampler
        request.scheduler = scheduler
        request.steps = steps
        request.cfgScale = cfgScale
        request.seed = seed
        request.width = width
        request.height = height
        request.count = n
        request.rng = rng
        request.clipSkip = clipSkip
        request.strength = strength
        request.initImage = try initImage.map(readPNG)
        request.mask = try mask.map(readPNG)
        request.vaeTiling = vaeTiling
        if modelOptions.controlNet != nil && controlImage == nil {
            throw ValidationError("--control-net needs --control-image (the picture that steers it)")
        }
        if controlImage != nil && modelOptions.controlNet == nil {
            throw ValidationError("--control-image needs --control-net (the ControlNet it steers)")
        }
        request.controlImage = try controlImage.map(readPicture)
        request.controlStrength = controlStrength
        request.controlStart = controlStart
        request.controlEnd = controlEnd
        request.applyCannyPreprocessor = canny
        request.loras = try lora.map(Self.parseLoRA)
        let options: GenerationOptions
        do {
            options = try request.options()
        } catch GenerationError.invalidOption(let field, let reason) {
            throw ValidationError("\(Self.flag(forField: field)) \(reason)")
        }
        let pipeline = try modelOptions.loadPipeline()
        // One run, then exit: the UNet's weights are not needed once the last picture is sampled.
        pipeline.freesWeightsBeforeDecoding = !keepWeights && options.count == 1
        var progress = ProgressBar()
        let results: [GeneratedImage]
        do {
            results = try pipeline.generate(options) { progress.update($0) }
        } catch GenerationError.invalidOption(let field, let reason) {
            progress.finish()
            throw ValidationError("\(Self.flag(forField: field)) \(reason)")
        }
        progress.finish()

        for (i, result) in results.enumerated() {
            let path = results.count == 1 ? output : numbered(output, i + 1)
            try Data(result.encoded(as: format, compression: outputCompression)).write(to: URL(fileURLWithPath: path))
            print("\(path): seed \(result.seed)")
            if let saveLatent {
                var writer = SafetensorsWriter(metadata: ["seed": "\(result.seed)", "parameters": result.parameters])
                writer.add("latent", result.latent)
                let latentPath = results.count == 1 ? saveLatent : numbered(saveLatent, i + 1)
                try writer.write(to: latentPath)
                print("\(latentPath): final latent \(result.latent.shape)")
            }
        }
    }

    /// `NAME` or `NAME:WEIGHT`.
    static func parseLoRA(_ text: String) throws -> LoRAUse {
        guard let colon = text.lastIndex(of: ":") else { return LoRAUse(name: text) }
        guard let weight = Float(text[text.index(after: colon)...]) else {
            throw ValidationError("--lora '\(text)': the weight after ':' must be a number")
        }
        return LoRAUse(name: String(text[..<colon]), multiplier: weight)
    }

    /// The flag that sets a request field, for error messages.
    static func flag(forField field: String) -> String {
        switch field {
        case "sample_method": "--sampler"
        case "n": "-n"
        case "image": "--init-image"
        case "apply_canny_preprocessor": "--canny"
        default: "--" + field.replacingOccurrences(of: "_", with: "-")
        }
    }

    private func readPNG(_ path: String) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read '\(path)'") }
        do { return try PNG.decode(Array(data)) } catch { throw ValidationError("'\(path)': \(error)") }
    }

    private func readPicture(_ path: String) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read '\(path)'") }
        do { return try ImageFile.decode(Array(data)) } catch { throw ValidationError("'\(path)': \(error)") }
    }

    /// "out.png", 2 -> "out-2.png"
    private func numbered(_ path: String, _ index: Int) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let base = url.deletingPathExtension().path
        return ext.isEmpty ? "\(base)-\(index)" : "\(base)-\(index).\(ext)"
    }
}

/// A one-line progress bar with step time and ETA, drawn only when stderr is a terminal.
struct ProgressBar {
    private let interactive = isatty(STDERR_FILENO) != 0
    private var start: Date?
    private var drawn = false

    mutating func update(_ p: GenerationProgress) {
        guard interactive else { return }
        let now = Date()
        if start == nil { start = now }
        let done = p.imageIndex * p.stepCount + p.step + 1, total = p.imageCount * p.stepCount
        let elapsed = now.timeIntervalSince(start ?? now)
        let perStep = elapsed / Double(max(done, 1))
        let width = 30, filled = width * done / max(total, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let line = String(
            format: "\r[%@] image %d/%d step %d/%d  %.2f s/step  ETA %.0f s ", bar, p.imageIndex + 1, p.imageCount,
            p.step + 1, p.stepCount, perStep, perStep * Double(total - done))
        FileHandle.standardError.write(Data(line.utf8))
        drawn = true
    }

    func finish() {
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
