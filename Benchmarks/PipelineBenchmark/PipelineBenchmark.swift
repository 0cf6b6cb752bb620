// Times our Stable Diffusion 1.5 pipeline (UNet step, VAE decode, whole image) on a full-size
// checkpoint with random weights, which this tool also writes, and optionally compares it with
// stable-diffusion.cpp and PyTorch on the same file. Usage: Benchmarks/README.md.
import ArgumentParser

/// The `PipelineBenchmark` command: `write-checkpoint` and `run`.
@main
struct PipelineBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "PipelineBenchmark",
        abstract: "SD 1.5 pipeline benchmark on a random-weight checkpoint.",
        subcommands: [WriteCheckpointCommand.self, WriteControlNetCommand.self, WriteLoRACommand.self, RunCommand.self])
}
