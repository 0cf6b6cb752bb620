import Foundation

/// The flattened config files `CheckpointConfig(besideFile:)` reads next to a single-file
/// checkpoint. Weights cannot say SD 1.5's head counts (8 UNet heads of varying width, 12 CLIP
/// heads of 64), and the loader's fallbacks are for other models, so without them the pipeline
/// would run attention with the wrong head split and the timings would not be SD 1.5's.
enum ModelConfigFiles {
    /// (file name, contents).
    static let files: [(name: String, json: String)] = [
        ("scheduler_config.json", #"{"prediction_type": "epsilon"}"#),
        ("unet_config.json", #"{"attention_head_dim": 8, "sample_size": 64}"#),
        ("text_encoder_config.json", #"{"num_attention_heads": 12}"#),
    ]

    /// Writes every file into `folder` (replacing existing ones).
    /// - Throws: Foundation's file errors.
    static func write(into folder: String) throws {
        for file in files {
            try Data((file.json + "\n").utf8).write(to: URL(fileURLWithPath: folder).appendingPathComponent(file.name))
        }
    }
}
