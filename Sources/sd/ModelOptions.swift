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

    @Option(help: "What the UNet predicts, when the checkpoint's configs do not say: eps or v (SD 2.x 768 models).")
    var prediction: String?

    @Option(help: "Arithmetic for f16, bf16 and q8_0 weights on CPUs with AVX-512 BF16: bfloat16 (bf16, and int8 for q8_0 linear layers; twice as fast) or float32.")
    var arithmetic: ComputePrecision = .bfloat16

    func validate() throws {
        if let loraModelDir {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: loraModelDir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--lora-model-dir '\(loraModelDir)' is not a folder")
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
        pipeline.loraLibrary = makeLoRALibrary()
        return pipeline
    }

    /// The LoRA folder (a server makes one and hands it to every model, so they share its cache).
    func makeLoRALibrary() -> LoRALibrary? {
        loraModelDir.map { LoRALibrary(directory: $0) }
    }
}

extension ComputePrecision: ExpressibleByArgument {}
