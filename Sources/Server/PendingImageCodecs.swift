// TEMPORARY: replaced by Diffusion's JPEG/LatentPreview at merge
import Diffusion
import Tensor

/// Stand-in for Diffusion's libturbojpeg codec until it is merged. `encode` is declared `throws`
/// here only so the stub can refuse; call sites use `try`, which stays valid (a warning) against
/// the real, non-throwing `encode`.
enum JPEG {
    static func encode(_ image: RGBImage, quality: Int) throws -> [UInt8] {
        throw GenerationError.unsupported("JPEG output is not available in this build")
    }

    static func decode(_ bytes: [UInt8], maxPixels: Int) throws -> RGBImage {
        throw GenerationError.unsupported("JPEG input is not available in this build")
    }
}

/// Stand-in for Diffusion's latent-to-RGB preview: a grey picture of the latent's size.
enum LatentPreview {
    static func image(from latent: Tensor) -> RGBImage {
        let height = max(1, latent.shape[latent.shape.count - 2]), width = max(1, latent.shape[latent.shape.count - 1])
        return RGBImage(width: width, height: height, pixels: [UInt8](repeating: 128, count: width * height * 3))
    }
}
