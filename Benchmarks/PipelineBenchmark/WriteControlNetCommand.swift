import ArgumentParser
import Foundation

/// `write-controlnet`: a full-size SD 1.5 ControlNet with random weights in ControlLDM names
/// (`control_model.*`): the UNet encoder's tensors of the SD 1.5 key list, the released hint
/// encoder's convolutions (3 -> 16, 16, 32, 32, 96, 96, 256 -> 320) and one 1x1 zero convolution
/// per input block plus the middle block's, as lllyasviel's ControlNet 1.1 files hold.
struct WriteControlNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write-controlnet", abstract: "Write a random-weight SD 1.5 ControlNet (f32/f16 safetensors, q8_0 GGUF).")

    @Option(help: "Weight type: f32, f16 (safetensors) or q8_0 (GGUF).")
    var type: WeightType = .f16

    @Option(help: "The ControlNet file to write.")
    var output: String

    @Option(help: "Front-coded SD 1.5 key list (default: the repository's test fixture).")
    var keyList: String = KeyList.defaultPath

    @Option(help: "Seed of the random weights.")
    var seed: UInt64 = 2

    func run() throws {
        let entries = try Self.entries(from: KeyList(path: keyList))
        let keys = KeyList(entries: entries)
        print("writing \(entries.count) tensors, \(keys.parameterCount) values, as \(type.rawValue) to \(output)")
        try RandomCheckpointWriter(recipes: TensorRecipe.recipes(for: keys), seed: seed).write(type, to: output)
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print(String(format: "wrote %.2f GB", Double(size) / 1e9))
    }

    /// The ControlNet's names and shapes, from the UNet's.
    static func entries(from unet: KeyList) -> [(name: String, shape: [Int])] {
        let root = "model.diffusion_model."
        let encoder = unet.entries.filter { entry in
            ["time_embed.", "input_blocks.", "middle_block."].contains { entry.name.hasPrefix(root + $0) }
        }
        var result = encoder.map { (name: "control_model." + $0.name.dropFirst(root.count), shape: $0.shape) }
        func conv(_ name: String, _ out: Int, _ inputs: Int, _ kernel: Int) {
            result.append(("control_model.\(name).weight", [out, inputs, kernel, kernel]))
            result.append(("control_model.\(name).bias", [out]))
        }
        let shapes = Dictionary(encoder.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        let hint = [16, 16, 32, 32, 96, 96, 256, shapes[root + "input_blocks.0.0.weight"]?.first ?? 320]
        for (k, out) in hint.enumerated() { conv("input_hint_block.\(2 * k)", out, k == 0 ? 3 : hint[k - 1], 3) }
        // Each input block's width: its last layer's output channels.
        var block = 0
        while let width = [
            "input_blocks.\(block).0.weight", "input_blocks.\(block).0.out_layers.3.weight", "input_blocks.\(block).0.op.weight",
        ].lazy.compactMap({ shapes[root + $0]?.first }).first {
            conv("zero_convs.\(block).0", width, width, 1)
            block += 1
        }
        let middle = shapes[root + "middle_block.2.out_layers.3.weight"]?.first ?? 1280
        conv("middle_block_out.0", middle, middle, 1)
        return result
    }
}
