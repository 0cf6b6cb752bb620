import Diffusion
import ArgumentParser
import Foundation
import Samplers
import Tensor

/// Times the items on our `DiffusionPipeline`: the UNet and decoder are the pipeline's own
/// (`denoisingNetwork`, `decodeLatent`), and the whole image is its `generate` plus PNG encoding.
struct PipelineItemRunner {
    let pipeline: DiffusionPipeline
    /// Picture side in pixels.
    let size: Int
    let runs: Int
    /// Untimed runs before the timed ones (UNet and VAE only; see `run`).
    let warmup: Int
    let steps: Int
    let prompt: String
    /// Where to write the whole image's PNG, if anywhere.
    let imageOutput: String?
    /// A PNG to compare the whole image with (PSNR).
    let compareWith: String?
    /// A LoRA file for the `lora` item.
    var lora: String? = nil

    /// Measures `item`, printing each run as it finishes (a 512 image takes minutes).
    func run(_ item: BenchmarkItem) throws -> ItemResult {
        PeakMemory.reset()
        var timing = Timing()
        var check = ""
        switch item {
        case .unet:
            let side = size / 8
            // The SD benchmark times the UNet itself, with its own input geometry.
            guard let unet = pipeline.denoisingNetwork as? UNet else { throw ValidationError("the UNet item needs an SD UNet model") }
            let x = Self.normal([2, unet.config.inChannels, side, side], seed: 1)
            let context = Self.normal([2, 77, unet.config.contextDimension ?? 768], seed: 2)
            // Mid-schedule timestep: the cost does not depend on it.
            let step = { unet(x, timesteps: [500, 500], context: context) }
            for _ in 0..<warmup { _ = step() }
            for r in 0..<runs {
                check = TensorStats(timing.measure(step)).description
                progress(item, r, timing)
            }
        case .controlnet:
            guard let unet = pipeline.denoisingNetwork as? UNet, let controlNet = pipeline.components.controlNet else {
                throw ValidationError("the controlnet item needs an SD UNet model and --control-net")
            }
            let side = size / 8
            let x = Self.normal([2, unet.config.inChannels, side, side], seed: 1)
            let context = Self.normal([2, 77, unet.config.contextDimension ?? 768], seed: 2)
            // The hint is encoded once per picture, as the pipeline does: not part of the step.
            let hint = controlNet.encodeHint(Self.normal([1, 3, size, size], seed: 4).affine(scale: 0.25, shift: 0.5))
            let step = {
                let residuals = controlNet.residuals(x, timesteps: [500, 500], context: context, added: nil, hint: hint, strength: 0.9)
                return unet(x, timesteps: [500, 500], context: context, control: residuals)
            }
            for _ in 0..<warmup { _ = step() }
            for r in 0..<runs {
                check = TensorStats(timing.measure(step)).description
                progress(item, r, timing)
            }
        case .lora:
            guard let unet = pipeline.denoisingNetwork as? UNet, let lora else {
                throw ValidationError("the lora item needs an SD UNet model and --lora")
            }
            let side = size / 8
            let x = Self.normal([2, unet.config.inChannels, side, side], seed: 1)
            let context = Self.normal([2, 77, unet.config.contextDimension ?? 768], seed: 2)
            var adapters: LayerAdapters?
            let setup = try Timing.seconds {
                adapters = try LoRAAdapters.make([(try LoRAFile(path: lora), 1)], for: pipeline.checkpoint.index)
            }
            guard let adapters else { return ItemResult(item: item, timing: timing, peakBytes: nil, check: "no adapters") }
            print(String(format: "  LoRA read and resolved in %.2f s: %d layers adapted", setup, adapters.deltas.count))
            let step = { adapters.withValue { unet(x, timesteps: [500, 500], context: context) } }
            for _ in 0..<warmup { _ = step() }
            for r in 0..<runs {
                check = TensorStats(timing.measure(step)).description
                progress(item, r, timing)
            }
        case .vae:
            let latent = Self.normal([1, 4, size / 8, size / 8], seed: 3)
            let decode = { pipeline.decodeLatent(latent) }
            for _ in 0..<warmup { _ = decode() }
            for r in 0..<runs {
                check = TensorStats(timing.measure(decode)).description
                progress(item, r, timing)
            }
        case .image:
            // No warm-up: one costs as much as a timed run. When the UNet and VAE items ran first
            // the weights are already paged in; alone, the first run includes reading them.
            var options = GenerationOptions(prompt: prompt)
            options.width = size
            options.height = size
            options.steps = steps
            options.cfgScale = 7
            options.sampler = .eulerAncestral
            options.seed = 42
            for r in 0..<runs {
                // Request to PNG: generation and the PNG encoding a server response needs. The
                // step callbacks split it, to tell a slow step from overhead around the steps.
                var stepEnds: [UInt64] = []
                let start = DispatchTime.now().uptimeNanoseconds
                let (images, png) = try timing.measure {
                    let images = try pipeline.generate(options) { _ in stepEnds.append(DispatchTime.now().uptimeNanoseconds) }
                    return (images, images.first.map { PNG.encode($0.image) } ?? [])
                }
                let end = DispatchTime.now().uptimeNanoseconds
                if let phases = ImagePhases(start: start, stepEnds: stepEnds, end: end) {
                    print("    " + phases.description)
                }
                check = images.first.map { "latent " + TensorStats($0.latent).description + ", PNG \(png.count) bytes" } ?? "no image"
                if let imageOutput { try Data(png).write(to: URL(fileURLWithPath: imageOutput)) }
                if let compareWith, let ours = images.first?.image {
                    let theirs = try PNG.decode(Array(try Data(contentsOf: URL(fileURLWithPath: compareWith))))
                    check += String(format: ", PSNR %.2f dB against %@", Self.psnr(ours, theirs), compareWith)
                }
                progress(item, r, timing)
            }
        }
        return ItemResult(item: item, timing: timing, peakBytes: PeakMemory.highWaterMark(), check: check)
    }

    private func progress(_ item: BenchmarkItem, _ run: Int, _ timing: Timing) {
        print(String(format: "  %@ run %d/%d: %.3f s", item.rawValue, run + 1, runs, timing.seconds.last ?? .nan))
    }

    /// Peak signal-to-noise ratio of two 8-bit pictures of the same size, in dB.
    static func psnr(_ a: RGBImage, _ b: RGBImage) -> Double {
        guard a.width == b.width, a.height == b.height, !a.pixels.isEmpty else { return .nan }
        var squared = 0.0
        for (x, y) in zip(a.pixels, b.pixels) { squared += pow(Double(x) - Double(y), 2) }
        let mse = squared / Double(a.pixels.count)
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    /// A tensor of N(0, 1) values from a fixed seed.
    static func normal(_ shape: [Int], seed: UInt64) -> Tensor {
        var tensor = Tensor(uninitializedShape: shape)
        let stream = NormalStream(seed: seed)
        tensor.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            stream.fill(base, count: buffer.count, std: 1)
        }
        return tensor
    }
}
