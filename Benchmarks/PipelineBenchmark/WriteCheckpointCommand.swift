import ArgumentParser
import Foundation

/// `write-checkpoint`: a full-size SD 1.5 single-file checkpoint with random weights, exact LDM
/// names and shapes, plus the config files beside it that give the loader SD 1.5's head counts.
struct WriteCheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write-checkpoint",
        abstract: "Write a random-weight SD 1.5 checkpoint (f32/f16 safetensors, q8_0 GGUF) and its configs.")

    @Option(help: "Weight type: f32, f16 (safetensors) or q8_0 (GGUF).")
    var type: WeightType

    @Option(help: "The checkpoint file to write; the config files go into its folder.")
    var output: String

    @Option(help: "Front-coded SD 1.5 key list (default: the repository's test fixture).")
    var keyList: String = KeyList.defaultPath

    @Option(help: "Seed of the random weights.")
    var seed: UInt64 = 1

    func run() throws {
        let keys = try KeyList(path: keyList)
        let folder = (output as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder.isEmpty ? "." : folder, withIntermediateDirectories: true)
        print("writing \(keys.entries.count) tensors, \(keys.parameterCount) values, as \(type.rawValue) to \(output)")
        let start = Date()
        try RandomCheckpointWriter(recipes: TensorRecipe.recipes(for: keys), seed: seed).write(type, to: output)
        try ModelConfigFiles.write(into: folder.isEmpty ? "." : folder)
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print(
            String(
                format: "wrote %.2f GB in %.1f s, peak memory %@; configs: %@", Double(size) / 1e9, Date().timeIntervalSince(start),
                PeakMemory.highWaterMark().map(PeakMemory.format) ?? "?",
                ModelConfigFiles.files.map(\.name).joined(separator: ", ")))
    }
}
