import ArgumentParser
import Diffusion
import Foundation
import Tensor

/// The options that choose and load a model, shared by `sd generate` and `sd serve`.
struct ModelOptions: ParsableArguments {
    @Option(help: "Checkpoint: a .safetensors, .gguf or PyTorch .ckpt single file, or a diffusers folder (default: the built-in model).")
    var model: String?

    @Option(help: "A VAE file that replaces the checkpoint's.")
    var vae: String?

    @Option(help: "A TAESD decoder (madebyollin/taesd diffusion_pytorch_model.safetensors): much faster decoding.")
    var taesd: String?

    @Option(help: "A ControlNet (ControlLDM .safetensors/.gguf/.pth, or diffusers ControlNetModel file or folder) for the model's family.")
    var controlNet: String?

    @Option(help: "Folder of LoRA files (.safetensors/.gguf/.ckpt/.pt/.bin: kohya-ss LoRA/LoCon, LyCORIS LoHa/LoKr, diffusers/PEFT), used by name: <lora:NAME:WEIGHT> in the prompt.")
    var loraModelDir: String?

    @Option(
        name: [.customLong("embedding-dir"), .customLong("embd-dir")],
        help: "Folder of textual-inversion embeddings (.safetensors/.gguf/.pt/.bin; SD 1.x, 2.x or SDXL clip_l + clip_g), used by file name in the prompt (A1111 style).")
    var embeddingDir: String?

    @Option(help: "What the UNet predicts, when the checkpoint's configs do not say: eps or v (SD 2.x 768 models).")
    var prediction: String?

    @Option(help: "Arithmetic for f16, bf16 and q8_0 weights on CPUs with AVX-512 BF16: bfloat16 (bf16, and int8 for q8_0 linear layers; twice as fast) or float32.")
    var arithmetic: ComputePrecision = .bfloat16

    func validate() throws {
        for (flag, folder) in [("--lora-model-dir", loraModelDir), ("--embedding-dir", embeddingDir)] {
            guard let folder else { continue }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("\(flag) '\(folder)' is not a folder")
            }
        }
        if let prediction, !["eps", "epsilon", "v", "v_prediction"].contains(prediction) {
            throw ValidationError("unknown --prediction '\(prediction)' (eps or v)")
        }
    }

    /// Loads the pipeline these options describe.
    func loadPipeline() throws -> DiffusionPipeline {
        WeightMatrix.encodedWeightPrecision = arithmetic
        let type: PredictionType? =
            switch prediction {
            case "eps", "epsilon": .epsilon
            case "v", "v_prediction": .v
            default: nil
            }
        let pipeline = try DiffusionPipeline(model: model, vae: vae, taesd: taesd, prediction: type, controlNet: controlNet)
        makeExtraNetworks().attach(to: pipeline)
        return pipeline
    }

    /// The LoRA and embedding folders (a server makes them once and hands them to every model,
    /// so they share their caches).
    func makeExtraNetworks() -> ExtraNetworks {
        ExtraNetworks(loras: loraModelDir.map { LoRALibrary(directory: $0) }, embeddings: embeddingDir.map { EmbeddingLibrary(directory: $0) })
    }
}

/// The folders a prompt's extra networks come from.
struct ExtraNetworks {
    let loras: LoRALibrary?
    let embeddings: EmbeddingLibrary?

    func attach(to pipeline: DiffusionPipeline) {
        pipeline.loraLibrary = loras
        pipeline.embeddingLibrary = embeddings
    }
}

extension ComputePrecision: ExpressibleByArgument {}
