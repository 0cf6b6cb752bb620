/// The textual-inversion names one text encoder can use, as token sequences, for finding them in
/// a tokenized prompt (A1111 `EmbeddingDatabase.find_embedding_at_position`).
///
/// A name matches where the prompt's tokens equal the name's own tokens (so matching is as
/// case-insensitive as the tokenizer), the longest name first. An embedding that does not fit the
/// text encoder (another family's) is not matched and its name stays ordinary text, as in A1111.
public struct EmbeddingVocabulary {
    private let library: EmbeddingLibrary
    /// Names by their first token, longest first.
    private let candidates: [Int: [(tokens: [Int], entry: EmbeddingLibrary.Entry)]]
    private let fits: (TextualInversion) -> Bool

    /// - Parameter fits: whether an embedding has tables this text encoder can use.
    public init(library: EmbeddingLibrary, tokenizer: CLIPTokenizer, fits: @escaping (TextualInversion) -> Bool) {
        self.library = library
        self.fits = fits
        var candidates: [Int: [(tokens: [Int], entry: EmbeddingLibrary.Entry)]] = [:]
        for entry in library.entries() {
            let tokens = tokenizer.encode(entry.name)
            guard let first = tokens.first else { continue }
            candidates[first, default: []].append((tokens, entry))
        }
        self.candidates = candidates.mapValues { $0.sorted { $0.tokens.count > $1.tokens.count } }
    }

    /// The embedding whose name starts at `tokens[position]`, and how many tokens the name takes.
    /// - Throws: `EmbeddingLibrary.Failure` for a matched file that cannot be read.
    public func match(_ tokens: [Int], at position: Int) throws -> (embedding: TextualInversion, length: Int)? {
        guard let named = candidates[tokens[position]] else { return nil }
        for candidate in named where tokens.count - position >= candidate.tokens.count {
            guard tokens[position..<(position + candidate.tokens.count)].elementsEqual(candidate.tokens) else { continue }
            let embedding = try library.embedding(candidate.entry)
            if fits(embedding) { return (embedding, candidate.tokens.count) }
        }
        return nil
    }
}
