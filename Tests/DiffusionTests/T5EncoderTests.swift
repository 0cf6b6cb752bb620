import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// The T5 encoder against transformers 5.25 `T5EncoderModel` on a tiny seeded model.
/// Fixture: `python Tests/Golden/generate_t5_goldens.py` (case t5_encoder_tiny): d_model 64,
/// d_kv 16, 4 heads, d_ff 128, 3 layers, gated-gelu, fp16 weights, fp32 reference.
@Suite(.float32Arithmetic) struct T5EncoderTests {
    /// fp32 against fp32 on the same fp16-rounded weights. Measured NMSE 1.5e-13 (max abs 2.4e-6)
    /// without the mask, 1.3e-13 ... 1.8e-13 per row with it; the bound sits far below the
    /// tolerance table's 1e-5 because a wrong GELU form (erf for tanh) or one wrong bucket could
    /// still pass 1e-5 on a model this small.
    static let tolerance = 1e-12

    static func encoder(_ golden: GoldenCase) throws -> T5Encoder { try T5Encoder(golden.index.weights()) }

    func rows(_ golden: GoldenCase, _ name: String) throws -> [[Int]] {
        let ids = try golden.input(name)
        let length = ids.shape[1]
        let values = ids.scalars.map { Int($0) }
        return (0..<ids.shape[0]).map { Array(values[($0 * length)..<(($0 + 1) * length)]) }
    }

    @Test(arguments: [16, 48]) func lastHiddenStateMatchesTransformers(length: Int) throws {
        let golden = try GoldenCase("t5_encoder_tiny")
        let encoder = try Self.encoder(golden)
        try golden.index.checkAllConsumed()
        #expect(
            encoder.config
                == T5Config(modelWidth: 64, headWidth: 16, heads: 4, feedForwardWidth: 128, layerCount: 3, vocabularySize: 1010))
        let batch = try rows(golden, "ids_\(length)")
        let reference = try golden.output("hidden_\(length)")
        let actual = encoder(batch)
        #expect(actual.shape == [3, length, 64])
        let error = nmse(actual, reference)
        #expect(error <= Self.tolerance, "NMSE \(error): \(describeDifference(actual, reference))")
        // One prompt alone gives its batch row ([1, L, D]).
        let single = encoder(batch[1])
        let row = reference.narrowed(axis: 0, start: 1, length: 1)
        #expect(single.shape == [1, length, 64] && nmse(single, row) <= Self.tolerance)
    }

    /// With transformers' attention mask (not what diffusers passes): padding keys masked out.
    @Test(arguments: [16, 48]) func maskedHiddenStateMatchesTransformers(length: Int) throws {
        let golden = try GoldenCase("t5_encoder_tiny")
        let encoder = try Self.encoder(golden)
        let tokenizer = try T5Tokenizer(data: Data(contentsOf: URL(fileURLWithPath: fixturePath("t5_tokenizer.json"))))
        let reference = try golden.output("masked_\(length)")
        for (i, ids) in try rows(golden, "ids_\(length)").enumerated() {
            let attended = ids.firstIndex(of: tokenizer.padID) ?? ids.count
            let actual = encoder(ids, attendedLength: attended)
            let row = reference.narrowed(axis: 0, start: i, length: 1)
            #expect(nmse(actual, row) <= Self.tolerance, "row \(i): \(describeDifference(actual, row))")
        }
        // The mask matters for a padded row: the unmasked output differs.
        let all = try rows(golden, "ids_\(length)")
        let padded = try #require(all.firstIndex { $0.contains(tokenizer.padID) })
        #expect(nmse(encoder(all[padded]), reference.narrowed(axis: 0, start: padded, length: 1)) > 1e-4)
    }

    /// The tokenizer frames the golden's ids exactly as transformers did.
    @Test func tokenizerFramesTheEncoderInputs() throws {
        let golden = try GoldenCase("t5_encoder_tiny")
        let tokenizer = try T5Tokenizer(data: Data(contentsOf: URL(fileURLWithPath: fixturePath("t5_tokenizer.json"))))
        let prompts = try JSONDecoder().decode([String].self, from: Data(try #require(golden.metadata["prompts"]).utf8))
        for length in [16, 48] {
            #expect(try rows(golden, "ids_\(length)") == prompts.map { tokenizer.frame($0, length: length).ids })
        }
    }

    @Test func relativePositionBucketsEqualTransformers() throws {
        let golden = try GoldenCase("t5_encoder_tiny")
        let expected = try golden.output("buckets").scalars.map { Int($0) }
        let actual = (-300...300).map { T5RelativePositionBias.bucket($0, buckets: 32, maxDistance: 128) }
        #expect(actual == expected)
        // Exact below 8, log-spaced up to 128, then the last bucket of each half.
        #expect(actual[300] == 0 && actual[301] == 17 && actual[299] == 1 && actual[600] == 31 && actual[0] == 15)
    }

    @Test func configJSONIsCheckedAgainstTheWeights() throws {
        let golden = try GoldenCase("t5_encoder_tiny")
        let json = try #require(golden.metadata["config"])
        let config = try T5Config(configJSON: Data(json.utf8))
        #expect(config.heads == 4 && config.headWidth == 16 && config.feedForwardWidth == 128 && config.vocabularySize == 1010)
        #expect(try T5Encoder(GoldenCase("t5_encoder_tiny").index.weights(), config: config).config == config)
        var wrong = config
        wrong.heads = 2
        #expect(throws: WeightError.self) { _ = try T5Encoder(GoldenCase("t5_encoder_tiny").index.weights(), config: wrong) }
        #expect(throws: WeightError.self) { _ = try T5Encoder(GoldenCase("t5_encoder_tiny").index.weights(), heads: 3) }
        #expect(throws: WeightError.self) {
            _ = try T5Config(configJSON: Data(#"{"d_model": 8, "feed_forward_proj": "relu"}"#.utf8))
        }
    }

    /// Strict loading: a missing tensor and an extra one are errors naming file and tensor.
    @Test func loadingIsStrict() throws {
        let golden = try GoldenCase("t5_encoder_tiny")
        var tensors = golden.index.tensors
        let removed = "encoder.block.2.layer.1.DenseReluDense.wi_1.weight"
        tensors[removed] = nil
        #expect(throws: WeightError.missingTensor(file: "cut", tensor: removed)) {
            _ = try T5Encoder(WeightIndex(source: "cut", tensors: tensors).weights())
        }
        var extra = golden.index.tensors
        extra["encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"] =
            golden.index.tensors["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
        let index = WeightIndex(source: "extra", tensors: extra)
        _ = try T5Encoder(index.weights())
        #expect(throws: WeightError.unusedTensors(file: "extra", tensors: ["encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"])) {
            try index.checkAllConsumed()
        }
        // encoder.embed_tokens.weight is accepted as the alias of shared.weight.
        var alias = golden.index.tensors
        alias["encoder.embed_tokens.weight"] = alias.removeValue(forKey: "shared.weight")
        let aliased = WeightIndex(source: "alias", tensors: alias)
        let encoder = try T5Encoder(aliased.weights())
        try aliased.checkAllConsumed()
        #expect(encoder.config.vocabularySize == 1010)
    }

    @Test func llamaCppGGUFNamesMapOntoTransformersNames() {
        #expect(T5Encoder.transformersName("enc.blk.3.attn_q.weight") == "encoder.block.3.layer.0.SelfAttention.q.weight")
        #expect(T5Encoder.transformersName("enc.blk.0.attn_rel_b.weight") == "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        #expect(T5Encoder.transformersName("enc.blk.7.ffn_gate.weight") == "encoder.block.7.layer.1.DenseReluDense.wi_0.weight")
        #expect(T5Encoder.transformersName("enc.blk.7.ffn_up.weight") == "encoder.block.7.layer.1.DenseReluDense.wi_1.weight")
        #expect(T5Encoder.transformersName("enc.blk.7.ffn_down.weight") == "encoder.block.7.layer.1.DenseReluDense.wo.weight")
        #expect(T5Encoder.transformersName("enc.blk.7.ffn_norm.weight") == "encoder.block.7.layer.1.layer_norm.weight")
        #expect(T5Encoder.transformersName("enc.output_norm.weight") == "encoder.final_layer_norm.weight")
        #expect(T5Encoder.transformersName("token_embd.weight") == "shared.weight")
        #expect(T5Encoder.transformersName("encoder.block.0.layer.0.layer_norm.weight") == "encoder.block.0.layer.0.layer_norm.weight")
    }
}
