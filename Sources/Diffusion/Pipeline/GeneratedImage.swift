import Tensor

/// One finished picture.
public struct GeneratedImage: Sendable {
    public let image: RGBImage
    /// The seed this picture used (request seed + its index).
    public let seed: UInt64
    /// The final latent, before decoding ([1, C, h, w], network scale).
    public let latent: Tensor
    /// A1111-style parameters text ("prompt\nNegative prompt: ...\nSteps: ..."), for the file.
    public let parameters: String

    /// The picture as a PNG carrying its parameters in A1111's `parameters` text chunk (which
    /// A1111, ComfyUI and most viewers read back): the one writer the CLI and the server share.
    public func pngWithParameters() -> [UInt8] {
        PNG.encode(image, text: [("parameters", parameters)])
    }

    /// The picture as a file of `format` carrying its parameters (PNG: as `pngWithParameters`;
    /// JPEG and WebP: in EXIF, as A1111 writes them), `compression` mapped as `ImageFileFormat`
    /// documents: the one writer the CLI and the server share.
    /// - Throws: `WebP.EncodeError`.
    public func encoded(as format: ImageFileFormat, compression: Int? = nil) throws -> [UInt8] {
        try format.encode(image, parameters: parameters, compression: compression)
    }
}

/// Progress of a running generation, reported after every sampler step.
public struct GenerationProgress: Sendable {
    public let imageIndex: Int
    public let imageCount: Int
    /// Step index within the current picture, 0-based.
    public let step: Int
    public let stepCount: Int
    public let sigma: Float
    /// The denoiser's current x0 estimate ([1, C, h, w]), for previews.
    public let denoised: Tensor
}
