import ArgumentParser
import Diffusion
import Foundation
import Tensor

/// `run`: times our pipeline on a checkpoint and, when their paths are given, stable-diffusion.cpp
/// and the PyTorch reference script on the same file; prints min / median / max seconds per item,
/// peak memory, and our time / theirs.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Time the UNet step, VAE decode and whole image on a checkpoint.")

    @Option(help: "The checkpoint (from write-checkpoint, or any SD 1.5 file).")
    var checkpoint: String

    @Option(help: "Picture side in pixels (a multiple of 64; 256 and 512 are the issue's sizes).")
    var size: Int = 512

    @Option(help: "Timed runs per item.")
    var runs: Int = 3

    @Option(help: "Untimed warm-up runs before the UNet and VAE items (the whole image has none).")
    var warmup: Int = 1

    @Option(help: "Worker threads (ours, sd.cpp's -t, torch.set_num_threads).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "A ControlNet for the checkpoint (from write-controlnet): adds the controlnet item.")
    var controlNet: String?

    @Option(help: "A LoRA for the checkpoint (from write-lora): adds the lora item.")
    var lora: String?

    @Option(help: "What to time: unet, vae, image, controlnet, lora or all.")
    var what: ItemSelection = .all

    @Option(help: "Sampler steps of the whole image.")
    var steps: Int = 20

    @Option(help: "The prompt of the whole image.")
    var prompt: String = "a photograph of an astronaut riding a horse on mars"

    @Option(help: "Arithmetic of f16/bf16/quantized weights: bfloat16 (default on AVX-512 BF16) or float32.")
    var precision: ComputePrecision = .bfloat16

    @Flag(help: "3x3 convolutions through the direct GEMM only, not Winograd F(4x4, 3x3) (to compare).")
    var directConvolutions = false

    @Flag(help: "Whole image as `sd generate` runs it: packed weights freed before the VAE decode.")
    var freeWeightsBeforeDecoding = false

    @Option(help: "Write the last whole image's PNG here.")
    var imageOutput: String?

    @Option(help: "A PNG of the same image from another run (e.g. f32 weights): print our PSNR against it.")
    var compareWith: String?

    @Option(name: .customLong("sd-cpp"), help: "A stable-diffusion.cpp CLI binary (sd or sd-cli) to compare with.")
    var sdCpp: String?

    @Option(help: "A Python with torch, diffusers, transformers and safetensors, to run --torch-script.")
    var python: String?

    @Option(help: "The PyTorch reference script (Benchmarks/torch_reference.py).")
    var torchScript: String?

    func validate() throws {
        guard size >= 64 && size % 64 == 0 else { throw ValidationError("--size must be a positive multiple of 64") }
        guard runs >= 1, warmup >= 0, threads >= 1, steps >= 1 else {
            throw ValidationError("--runs, --threads and --steps must be at least 1, --warmup at least 0")
        }
        guard (python == nil) == (torchScript == nil) else {
            throw ValidationError("--python and --torch-script go together")
        }
    }

    func run() throws {
        TensorStorage.useSingleHeapArena()
        Parallel.threadCount = threads
        WeightMatrix.encodedWeightPrecision = precision
        print(
            "PipelineBenchmark: \(checkpoint), \(size)x\(size), \(runs) run(s) after \(warmup) warm-up, "
                + "\(threads) thread(s) on \(ProcessInfo.processInfo.activeProcessorCount) cores, "
                + "\(ProcessInfo.processInfo.physicalMemory / 1_073_741_824) GiB, kernels \(CPUKernels.active), "
                + "encoded weights in \(CPUKernels.effective(precision))"
                + (directConvolutions ? ", direct convolutions only" : ""))
        var pipeline: DiffusionPipeline?
        let loadSeconds = try Timing.seconds { pipeline = try DiffusionPipeline(model: checkpoint, controlNet: controlNet) }
        guard let pipeline else { return }
        pipeline.freesWeightsBeforeDecoding = freeWeightsBeforeDecoding
        print(
            String(format: "loaded %@ (%@, %@) in %.2f s", pipeline.modelName, pipeline.family.description,
                pipeline.checkpoint.format.rawValue, loadSeconds))

        let runner = PipelineItemRunner(
            pipeline: pipeline, size: size, runs: runs, warmup: warmup, steps: steps, prompt: prompt,
            imageOutput: imageOutput, compareWith: compareWith, lora: lora)
        var results: [ItemResult] = []
        let items = what.items(controlNet: controlNet != nil, lora: lora != nil)
        for item in items {
            print("\(item.label(steps: steps)):")
            let result = try Conv2dTuning.$winograd.withValue(!directConvolutions) { try runner.run(item) }
            print("  output: \(result.check)")
            results.append(result)
        }
        // Each item's peak is measured from a reset of VmHWM, so the run's peak is the largest;
        // loading only maps the weights, so it adds nothing above them.
        let processPeak = results.compactMap(\.peakBytes).max()

        // A reference that fails is reported and left out; our own figures still print.
        var references: [ReferenceResult] = []
        if let sdCpp {
            do {
                references.append(
                    try StableDiffusionCppRun(
                        binary: sdCpp, checkpoint: checkpoint, size: size, steps: steps, threads: threads, prompt: prompt,
                        controlNet: controlNet
                    ).run())
            } catch {
                print("stable-diffusion.cpp failed, left out: \(error)")
            }
        }
        if let python, let torchScript {
            do {
                references.append(
                    try TorchReferenceRun(
                        python: python, script: torchScript, checkpoint: checkpoint, size: size, runs: runs, warmup: warmup,
                        threads: threads, steps: steps, items: items.filter { $0 != .controlnet && $0 != .lora }, prompt: prompt,
                        vocabulary: try BuiltInModel.file("vocab.json"), merges: try BuiltInModel.file("merges.txt")
                    ).run())
            } catch {
                print("PyTorch failed, left out: \(error)")
            }
        }
        print("")
        ResultTable(results: results, references: references, steps: steps, processPeakBytes: processPeak).print()
    }
}

extension ComputePrecision: ExpressibleByArgument {}
