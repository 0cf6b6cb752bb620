/// Errors from reading tokenizer files (`vocab.json`, `merges.txt`, `tokenizer.json`) and from parsing prompts.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// A tokenizer file could not be read.
    case cannotRead(file: String, reason: String)
    /// A tokenizer file was read but does not have the expected content.
    case malformed(file: String, reason: String)
    /// A tokenizer file asks for a component (normalizer, pre-tokenizer, model, option) that is not
    /// implemented; refused rather than approximated, since ids would silently differ.
    case unsupported(file: String, reason: String)
    /// A prompt holds `(text:w)` whose `w` is not a number (A1111's `float(weight)` raises here too).
    case invalidWeight(prompt: String, weight: String)

    public var description: String {
        switch self {
        case .cannotRead(let file, let reason): "\(file): cannot read tokenizer file: \(reason)"
        case .malformed(let file, let reason): "\(file): malformed tokenizer file: \(reason)"
        case .unsupported(let file, let reason): "\(file): unsupported tokenizer file: \(reason)"
        case .invalidWeight(let prompt, let weight): "prompt '\(prompt)': '\(weight)' is not a valid attention weight"
        }
    }
}
