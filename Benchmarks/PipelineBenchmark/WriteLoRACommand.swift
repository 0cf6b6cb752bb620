import ArgumentParser
import Diffusion
import Foundation
import Tensor

/// `write-lora`: a random SD 1.5 LoRA of the common kohya-ss kind (attention q, k, v, out and the
/// feed-forward of every transformer block, proj_in / proj_out, and the text encoder's attention
/// and MLP), in kohya names over LDM paths, f16, with `alpha` = rank / 2.
struct WriteLoRACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write-lora", abstract: "Write a random-weight SD 1.5 LoRA (kohya-ss names, f16) for --lora.")

    @Option(help: "The LoRA file to write.")
    var output: String

    @Option(help: "Rank of every module.")
    var rank: Int = 32

    @Flag(help: "Also adapt the res blocks' 3x3 convolutions (LoCon).")
    var locon = false

    @Option(help: "Front-coded SD 1.5 key list (default: the repository's test fixture).")
    var keyList: String = KeyList.defaultPath

    func run() throws {
        let keys = try KeyList(path: keyList)
        var writer = SafetensorsWriter(metadata: ["generator": "PipelineBenchmark write-lora (random weights)"])
        var modules = 0, values = 0
        for (name, shape) in keys.entries where name.hasSuffix(".weight") && Self.isAdapted(name, shape: shape, locon: locon) {
            let path = String(name.dropLast(".weight".count))
            let module: String
            if path.hasPrefix("model.diffusion_model.") {
                module = "lora_unet_" + path.dropFirst("model.diffusion_model.".count).replacingOccurrences(of: ".", with: "_")
            } else {
                module = "lora_te_" + path.dropFirst("cond_stage_model.transformer.".count).replacingOccurrences(of: ".", with: "_")
            }
            let inner = Array(shape.dropFirst(2))
            let down = [rank, shape[1]] + inner, up = [shape[0], rank] + (inner.isEmpty ? [] : [1, 1])
            let fanIn = down.dropFirst().reduce(1, *)
            writer.add("\(module).lora_down.weight", shape: down, as: .f16, fill: Self.filler(seed: UInt64(modules) * 2 + 1, std: 1 / Float(fanIn).squareRoot()))
            writer.add("\(module).lora_up.weight", shape: up, as: .f16, fill: Self.filler(seed: UInt64(modules) * 2 + 2, std: 0.1 / Float(rank).squareRoot()))
            writer.add("\(module).alpha", Tensor(shape: [], values: [Float(rank) / 2]), as: .f16)
            modules += 1
            values += down.reduce(1, *) + up.reduce(1, *)
        }
        try writer.write(to: output)
        print("wrote \(modules) modules, \(values) values, rank \(rank), to \(output)")
    }

    static func isAdapted(_ name: String, shape: [Int], locon: Bool) -> Bool {
        if name.hasPrefix("model.diffusion_model.") {
            let attention = [".attn1.to_q.", ".attn1.to_k.", ".attn1.to_v.", ".attn1.to_out.0.", ".attn2.to_q.", ".attn2.to_k.", ".attn2.to_v.",
                             ".attn2.to_out.0.", ".ff.net.0.proj.", ".ff.net.2.", ".proj_in.", ".proj_out."]
            if attention.contains(where: name.contains) { return true }
            return locon && shape.count == 4 && (name.contains(".in_layers.2.") || name.contains(".out_layers.3."))
        }
        return name.hasPrefix("cond_stage_model.transformer.text_model.encoder.layers.")
            && ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"].contains(where: { name.contains(".\($0).") })
    }

    static func filler(seed: UInt64, std: Float) -> (Range<Int>, UnsafeMutablePointer<Float>) -> Void {
        let stream = NormalStream(seed: seed)
        return { range, buffer in stream.fill(buffer, count: range.count, std: std) }
    }
}
