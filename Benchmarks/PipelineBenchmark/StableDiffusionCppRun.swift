import ArgumentParser
import Diffusion
import Foundation

/// Runs stable-diffusion.cpp's CLI (`sd` or `sd-cli`) on the same checkpoint: one whole image with
/// the same settings (`-m CHECKPOINT -p PROMPT --steps N -W S -H S -t THREADS --cfg-scale 7
/// --sampling-method euler_a -s 42 -v`), under `/usr/bin/time -v` for its peak memory.
///
/// Its log gives the phases: `sampling completed, taking X s` (divided by the steps: one CFG
/// step, comparable with our UNet item up to the sampler's few vector operations),
/// `decode_first_stage completed, taking X s` (the VAE decode) and `generate_image completed in X
/// s` (`txt2img completed in` in older versions: the image without model loading). Where a line
/// is missing (a version that logs differently) that item is left empty.
///
/// With `controlNet` it runs once more with `--control-net FILE --control-image PNG
/// --control-strength 0.9` (a picture of the output size), whose sampling time per step is the
/// `controlnet` item.
struct StableDiffusionCppRun {
    let binary: String
    let checkpoint: String
    let size: Int
    let steps: Int
    let threads: Int
    let prompt: String
    var controlNet: String?

    /// Runs it once, and once more with the ControlNet when there is one.
    /// - Throws: `ValidationError` when it fails (with the tail of its log).
    func run() throws -> ReferenceResult {
        var result = try runOnce(control: nil)
        guard let controlNet else { return result }
        let picture = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-benchmark-control.png").path
        try Data(Self.controlPicture(size: size)).write(to: URL(fileURLWithPath: picture))
        defer { try? FileManager.default.removeItem(atPath: picture) }
        let controlled = try runOnce(control: (controlNet, picture))
        result.seconds[.controlnet] = controlled.seconds[.unet]
        result.notes.append(
            "stable-diffusion.cpp with the ControlNet: a second run; controlnet = its sampling time / \(steps) steps; its peak "
                + (controlled.peakBytes.map(PeakMemory.format) ?? "unknown"))
        return result
    }

    /// A white ring on black, `size` square (the control picture's content does not change the cost).
    static func controlPicture(size: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            for x in 0..<size where abs(hypot(Double(x - size / 2), Double(y - size / 2)) - Double(size) / 3) < 2 {
                for c in 0..<3 { pixels[(y * size + x) * 3 + c] = 255 }
            }
        }
        return PNG.encode(RGBImage(width: size, height: size, pixels: pixels))
    }

    /// Runs it once.
    /// - Throws: `ValidationError` when it fails (with the tail of its log).
    private func runOnce(control: (net: String, picture: String)?) throws -> ReferenceResult {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-benchmark-sdcpp.png").path
        let sdArguments = [
            "-m", checkpoint, "-p", prompt, "--steps", String(steps), "-W", String(size), "-H", String(size),
            "-t", String(threads), "--cfg-scale", "7", "--sampling-method", "euler_a", "-s", "42", "-o", output, "-v",
        ] + (control.map { ["--control-net", $0.net, "--control-image", $0.picture, "--control-strength", "0.9"] } ?? [])
        let timeBinary = "/usr/bin/time"
        let hasTime = FileManager.default.isExecutableFile(atPath: timeBinary)
        let command =
            hasTime
            ? ExternalCommand(executable: timeBinary, arguments: ["-v", binary] + sdArguments)
            : ExternalCommand(executable: binary, arguments: sdArguments)
        print("running stable-diffusion.cpp: \(command.commandLine)")
        let (status, log, wall) = try command.run()
        try? FileManager.default.removeItem(atPath: output)
        guard status == 0 else {
            throw ValidationError("stable-diffusion.cpp exited with \(status):\n\(ExternalCommand.tail(log))")
        }
        var result = ReferenceResult(name: "stable-diffusion.cpp")
        if let sampling = Self.seconds(after: "sampling completed, taking ", in: log) {
            result.seconds[.unet] = sampling / Double(steps)
        }
        result.seconds[.vae] = Self.seconds(after: "decode_first_stage completed, taking ", in: log)
        result.seconds[.image] =
            Self.seconds(after: "generate_image completed in ", in: log) ?? Self.seconds(after: "txt2img completed in ", in: log)
        result.peakBytes = Self.number(after: "Maximum resident set size (kbytes): ", in: log).map { Int($0) * 1024 }
        result.notes.append(
            String(
                format: "stable-diffusion.cpp: one run, whole process %.1f s wall (with model loading); "
                    + "UNet = sampling time / %d steps; peak = the process's maximum RSS%@", wall, steps,
                hasTime ? "" : " (unknown: no /usr/bin/time)"))
        return result
    }

    /// The number right after the last occurrence of `marker` in `log`, in seconds (sd.cpp writes
    /// "12.34s"; some messages use "ms").
    static func seconds(after marker: String, in log: String) -> Double? {
        guard let range = log.range(of: marker, options: .backwards) else { return nil }
        let rest = log[range.upperBound...]
        let digits = rest.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(digits) else { return nil }
        return rest.dropFirst(digits.count).hasPrefix("ms") ? value / 1000 : value
    }

    /// The number right after the last `marker` in `log`.
    static func number(after marker: String, in log: String) -> Double? {
        guard let range = log.range(of: marker, options: .backwards) else { return nil }
        return Double(log[range.upperBound...].prefix { $0.isNumber || $0 == "." })
    }
}
