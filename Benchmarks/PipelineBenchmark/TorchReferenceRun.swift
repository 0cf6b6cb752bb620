import ArgumentParser
import Foundation

/// Runs `Benchmarks/torch_reference.py` with the given Python on the same checkpoint and items;
/// the script prints one JSON object as its last line:
/// `{"unet": [s, ...], "vae": [...], "image": [...], "peak_rss_bytes": N, "torch": "2.x", ...}`.
struct TorchReferenceRun {
    let python: String
    let script: String
    let checkpoint: String
    let size: Int
    let runs: Int
    let warmup: Int
    let threads: Int
    let steps: Int
    let items: [BenchmarkItem]
    let prompt: String
    /// The CLIP tokenizer files (the built-in model's), so the script needs no download.
    let vocabulary: String
    let merges: String

    /// Runs the script.
    /// - Throws: `ValidationError` when it fails or prints no JSON.
    func run() throws -> ReferenceResult {
        var arguments = [
            script, "--checkpoint", checkpoint, "--size", String(size), "--runs", String(runs), "--warmup", String(warmup),
            "--threads", String(threads), "--steps", String(steps), "--prompt", prompt, "--vocab", vocabulary, "--merges", merges,
        ]
        arguments += ["--what"] + items.map(\.rawValue)
        let command = ExternalCommand(executable: python, arguments: arguments)
        print("running PyTorch: \(command.commandLine)")
        let (status, log, _) = try command.run()
        guard status == 0 else { throw ValidationError("the PyTorch script exited with \(status):\n\(ExternalCommand.tail(log))") }
        guard let line = log.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else { throw ValidationError("the PyTorch script printed no JSON result:\n\(ExternalCommand.tail(log))") }
        var result = ReferenceResult(name: "PyTorch")
        for item in items {
            if let values = object[item.rawValue] as? [Double], !values.isEmpty { result.seconds[item] = Timing(seconds: values).median }
        }
        result.peakBytes = object["peak_rss_bytes"] as? Int
        let version = object["torch"] as? String ?? "?"
        let diffusers = object["diffusers"] as? String ?? "?"
        result.notes.append("PyTorch \(version), diffusers \(diffusers), fp32 on the CPU, median of \(runs); peak = the script's maximum RSS")
        return result
    }
}
