import Foundation
import Tensor

/// Sizes of a T5 encoder (transformers `T5Config` field names in the comments).
///
/// `T5Encoder` reads the sizes from the weights' shapes; a config says what shapes cannot say for
/// sure (`relative_attention_max_distance`, `layer_norm_epsilon`, the feed-forward form) and is
/// checked against the shapes when given. T5 v1.1 XXL (SD3 `text_encoder_3/`, FLUX
/// `text_encoder_2/`, `t5xxl_fp16.safetensors`): d_model 4096, d_kv 64, 64 heads, d_ff 10240,
/// 24 layers, vocab 32128, gated-gelu, 32 buckets, max distance 128, epsilon 1e-6.
public struct T5Config: Sendable, Equatable {
    /// d_model
    public var modelWidth: Int
    /// d_kv: width of one attention head (heads · headWidth need not equal d_model).
    public var headWidth: Int
    /// num_heads
    public var heads: Int
    /// d_ff
    public var feedForwardWidth: Int
    /// num_layers
    public var layerCount: Int
    /// vocab_size (rows of `shared.weight`)
    public var vocabularySize: Int
    /// relative_attention_num_buckets
    public var relativeAttentionBuckets: Int
    /// relative_attention_max_distance
    public var relativeAttentionMaxDistance: Int
    /// layer_norm_epsilon
    public var epsilon: Float

    public init(
        modelWidth: Int, headWidth: Int, heads: Int, feedForwardWidth: Int, layerCount: Int, vocabularySize: Int,
        relativeAttentionBuckets: Int = 32, relativeAttentionMaxDistance: Int = 128, epsilon: Float = 1e-6
    ) {
        self.modelWidth = modelWidth
        self.headWidth = headWidth
        self.heads = heads
        self.feedForwardWidth = feedForwardWidth
        self.layerCount = layerCount
        self.vocabularySize = vocabularySize
        self.relativeAttentionBuckets = relativeAttentionBuckets
        self.relativeAttentionMaxDistance = relativeAttentionMaxDistance
        self.epsilon = epsilon
    }

    /// Reads a transformers `config.json` of a `T5EncoderModel` (diffusers `text_encoder_3/` or
    /// `text_encoder_2/`).
    /// - Throws: `WeightError.badHeader` for a file that is not such a config, or whose
    ///   `feed_forward_proj` is not gated-gelu (T5 v1.0's ReLU form is not implemented).
    public init(configJSON data: Data, name: String = "config.json") throws {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw WeightError.badHeader(file: name, reason: "not a JSON object")
        }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            if object[key] == nil || object[key] is NSNull, let value { return value }
            guard let number = object[key] as? NSNumber, let int = Int(exactly: number.doubleValue), int > 0 else {
                throw WeightError.badHeader(file: name, reason: "\(key) is not a positive integer")
            }
            return int
        }
        let projection = object["feed_forward_proj"] as? String ?? "relu"
        guard projection == "gated-gelu" else {
            throw WeightError.badHeader(
                file: name, reason: "feed_forward_proj '\(projection)': only gated-gelu (T5 v1.1, as SD3 / FLUX use) is implemented")
        }
        let epsilon = (object["layer_norm_epsilon"] as? NSNumber)?.floatValue ?? 1e-6
        self.init(
            modelWidth: try int("d_model"), headWidth: try int("d_kv"), heads: try int("num_heads"),
            feedForwardWidth: try int("d_ff"), layerCount: try int("num_layers"), vocabularySize: try int("vocab_size"),
            relativeAttentionBuckets: try int("relative_attention_num_buckets", default: 32),
            relativeAttentionMaxDistance: try int("relative_attention_max_distance", default: 128), epsilon: epsilon)
    }
}
