/// Where img2img starts: the tail of the full schedule that `strength` selects.
///
/// Matches stable-diffusion.cpp's default ("A1111 semantics", engine-reference 2.7): with n steps,
/// t_enc = floor(n * strength) (n - 1 if that reaches n) and the run keeps
/// `sigmas[n - t_enc - 1 ...]`, i.e. t_enc + 1 steps. Strength >= 1 keeps the whole schedule.
/// The pipeline then starts from `init_latent + sigmas.first * noise`.
public enum Img2ImgStart {
    /// The sigmas an img2img run of `strength` in [0, 1] uses out of the full `sigmas`.
    public static func sigmas(_ sigmas: [Float], strength: Float) -> [Float] {
        let steps = sigmas.count - 1
        guard steps >= 1, strength < 1 else { return sigmas }
        var tEnc = Int((Float(steps) * max(strength, 0)).rounded(.down))
        if tEnc >= steps { tEnc = steps - 1 }
        return Array(sigmas[(steps - tEnc - 1)...])
    }
}
