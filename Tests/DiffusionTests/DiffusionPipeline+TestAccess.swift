import Tensor

@testable import Diffusion

/// The SD parts of a pipeline by name, for tests that check what was built from a file.
extension DiffusionPipeline {
    var unet: UNet {
        guard let unet = components.network as? UNet else { preconditionFailure("not an SD UNet: \(type(of: components.network))") }
        return unet
    }

    /// The CLIP tower (SDXL: CLIP-L).
    var textEncoder: CLIPTextEncoder {
        switch components.conditioner {
        case let c as CLIPTextConditioner: c.encoder
        case let c as SDXLTextConditioner: c.encoderL
        default: preconditionFailure("not a CLIP conditioner: \(type(of: components.conditioner))")
        }
    }

    /// SDXL's OpenCLIP-bigG tower.
    var textEncoder2: CLIPTextEncoder? { (components.conditioner as? SDXLTextConditioner)?.encoderG }

    var tokenizer: CLIPTokenizer {
        switch components.conditioner {
        case let c as CLIPTextConditioner: c.tokenizer
        case let c as SDXLTextConditioner: c.tokenizer
        default: preconditionFailure("not a CLIP conditioner: \(type(of: components.conditioner))")
        }
    }

    /// One prompt's conditioning, as `generate` computes it.
    func encode(_ prompt: String, clipSkip: Int?, width: Int, height: Int, isNegative: Bool) throws -> Conditioning {
        let request = ConditioningRequest(
            role: isNegative ? .negativePrompt : .prompt, text: prompt, clipSkip: clipSkip, width: width, height: height,
            maxChunks: GenerationOptions.Limits().maxPromptChunks, embeddings: embeddingLibrary)
        return try components.conditioner.condition(try PromptParser.parse(prompt), request)
    }
}
