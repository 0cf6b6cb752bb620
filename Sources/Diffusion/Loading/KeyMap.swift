import Tensor

/// Renames tensors from the layouts checkpoints come in onto the canonical names (the original
/// LDM/SGM single-file names that stable-diffusion.cpp uses internally, engine-reference 4.2).
///
/// Source names are what the files hold, qualified by where they came from:
/// - single files (LDM, SGM) and GGUFs: their own names (`model.diffusion_model.*`,
///   `conditioner.embedders.1.model.*`, `cond_stage_model.model.*`, ...);
/// - diffusers folders: each part's names behind the part's folder name, `unet/conv_in.weight`,
///   `vae/decoder.up_blocks.0.resnets.0.conv1.weight`, `text_encoder_2/text_projection.weight`.
///
/// The rules are one table (`KeyMap+Rules.swift`, after sd.cpp `name_conversion.cpp` and diffusers'
/// `convert_diffusers_to_original_stable_diffusion.py`). Renaming is pure: it looks at names only,
/// never at tensor data, and a name no rule matches is kept as it is (so strict loading later
/// reports it as unused instead of dropping it silently).
///
/// The diffusers UNet and VAE number their blocks per level while LDM numbers them through the
/// whole network, so the map carries the block counts (`Layout`), read off the source names.
public struct KeyMap: Sendable {
    /// Block counts of the diffusers UNet and VAE the names come from.
    public let layout: Layout

    /// A map for sources with the given block counts.
    public init(layout: Layout) {
        self.layout = layout
    }

    /// A map whose block counts are read from `names` (source names, as described above).
    public init(inferringLayoutFrom names: some Sequence<String>) {
        self.init(layout: Layout(inferringFrom: names))
    }

    /// The canonical name of source tensor `name`.
    public func canonicalName(_ name: String) -> String {
        Self.apply(Self.rules, to: Substring(name), layout: layout) ?? name
    }

    /// Canonical name -> source name for every name in `names`.
    /// - Throws: `WeightError.duplicateTensor` (naming `source` and the canonical name) when two
    ///   source tensors would get the same canonical name, e.g. a diffusers VAE holding both the
    ///   old `query` and the new `to_q` attention names.
    public func canonicalNames(_ names: some Sequence<String>, source: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for name in names {
            let canonical = canonicalName(name)
            guard result.updateValue(name, forKey: canonical) == nil else {
                throw WeightError.duplicateTensor(file: source, tensor: canonical)
            }
        }
        return result
    }

    // MARK: - Rules

    /// One renaming rule: a name that starts with `pattern` (literal text, where `#` stands for a
    /// decimal number) gets `target(numbers, layout)` in place of the matched part; the rest of
    /// the name is then renamed by the first of `then` that matches it (or kept).
    struct Rule: Sendable {
        let pattern: String
        let target: @Sendable ([Int], Layout) -> String
        let then: [Rule]

        /// A rule whose target is computed from the numbers the pattern matched.
        init(_ pattern: String, then: [Rule] = [], target: @escaping @Sendable ([Int], Layout) -> String) {
            self.pattern = pattern
            self.target = target
            self.then = then
        }

        /// A rule with a fixed target.
        init(_ pattern: String, _ target: String, then: [Rule] = []) {
            self.init(pattern, then: then) { _, _ in target }
        }
    }

    /// Applies the first rule of `rules` that matches the start of `name`; nil when none does.
    static func apply(_ rules: [Rule], to name: Substring, layout: Layout) -> String? {
        for rule in rules {
            guard let (numbers, rest) = match(rule.pattern, name) else { continue }
            let tail = apply(rule.then, to: rest, layout: layout) ?? String(rest)
            return rule.target(numbers, layout) + tail
        }
        return nil
    }

    /// Matches `pattern` against the start of `name`: the numbers `#` stood for and the rest of
    /// the name, or nil.
    static func match(_ pattern: String, _ name: Substring) -> (numbers: [Int], rest: Substring)? {
        var numbers: [Int] = []
        var i = name.utf8.startIndex
        let utf8 = name.utf8
        for p in pattern.utf8 {
            if p == UInt8(ascii: "#") {
                var value = 0
                var digits = 0
                while i < utf8.endIndex, let d = Self.digit(utf8[i]), digits < 9 {
                    value = value * 10 + d
                    digits += 1
                    i = utf8.index(after: i)
                }
                guard digits > 0 else { return nil }
                numbers.append(value)
            } else {
                guard i < utf8.endIndex, utf8[i] == p else { return nil }
                i = utf8.index(after: i)
            }
        }
        return (numbers, name[i...])
    }

    private static func digit(_ byte: UInt8) -> Int? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
    }
}
