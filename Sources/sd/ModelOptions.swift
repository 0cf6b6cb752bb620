import ArgumentParser
import Diffusion
import Tensor

/// The options that choose and load a model, shared by `sd generate` and `sd serve`.
struct ModelOptions: ParsableArguments {
    @Option(help: "Checkpoint: a .safetensors or .gguf single file, or a diffusers folder (default: the built-in model).")
    var model: String?

    @Option(help: "A VAE file that replaces the checkpoint's.")
    var vae: String?

    @Option(help: "A TAESD decoder (madebyollin/taesd diffusion_pytorch_model.safetensors): much faster decoding.")
    var taesd: String?

    @Option(help: "A ControlNet (ControlLDM .safetensors/.gguf, or diffusers ControlNetModel file or folder) for the model's family.")
    var controlNet: String?

    @Option(help: "What the UNet predicts, when the checkpoint's configs do not say: eps or v (SD 2.x 768 models).")
    var prediction: String?

    @Option(help: "Arithmetic for f16, bf16 and q8_0 weights on CPUs with AVX-512 BF16: bfloat16 (bf16, and int8 for q8_0 linear layers; twice as fast) or float32.")
    var arithmetic: ComputePrecision = .bfloat16

    func validate() throws {
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
        return try DiffusionPipeline(model: model, vae: vae, taesd: taesd, prediction: type, controlNet: controlNet)
    }
}

extension ComputePrecision: ExpressibleByArgument {}
