import Tensor
import TestSupport
import Testing

@testable import Diffusion

@Suite struct TAESDTests {
    /// Fixture taesd_tiny from `python Tests/Golden/generate_vae_goldens.py`: diffusers
    /// `AutoencoderTiny` with 4-channel stages and (1,2,1,2) encoder / (2,1,2,1) decoder blocks, seeded
    /// random weights under the names `encoder.layers.N` / `decoder.layers.N`.
    @Test func decoderAndEncoderMatchDiffusersAutoencoderTiny() throws {
        let golden = try GoldenCase("taesd_tiny")
        let decoder = try TAESDDecoder(golden.index.weights())
        let encoder = try TAESDEncoder(golden.index.weights())
        try golden.index.checkAllConsumed()
        #expect(decoder.upsamplingFactor == 8)

        let image = decoder(try golden.input("latent"))
        let expectedImage = try golden.output("image")
        #expect(nmse(image, expectedImage) <= 1e-5, "TAESD decode: \(describeDifference(image, expectedImage))")

        let latent = encoder(try golden.input("image"))
        let expectedLatent = try golden.output("latent")
        #expect(nmse(latent, expectedLatent) <= 1e-5, "TAESD encode: \(describeDifference(latent, expectedLatent))")
    }
}
