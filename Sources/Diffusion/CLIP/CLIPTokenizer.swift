import Foundation

/// CLIP's byte-level BPE tokenizer (OpenAI `bpe_simple_vocab_16e6`, 49,408 ids).
///
/// Gives the same ids as Hugging Face transformers 5.x `CLIPTokenizer` (checked on a list of hard
/// prompts by `CLIPTokenizerTests`); the text clean-up and word split are described on
/// `CLIPPreTokenizer`. Matches: stable-diffusion.cpp `CLIPTokenizer::encode` for ASCII text
/// (engine-reference 5 lists where sd.cpp differs on non-ASCII text).
///
/// Thread-safe: the BPE cache is guarded by a lock.
public final class CLIPTokenizer: @unchecked Sendable {
    /// `<|startoftext|>` (BOS), 49406 in CLIP's vocabulary.
    public let startOfTextID: Int
    /// `<|endoftext|>` (EOS, also SD1's padding and the unknown token), 49407 in CLIP's vocabulary.
    public let endOfTextID: Int
    /// Number of entries in `vocab.json`.
    public let vocabularySize: Int

    /// Vocabulary id of each byte's symbol, alone and as a word's last symbol (with `</w>`).
    private let byteIDs: [Int32]
    private let byteEndOfWordIDs: [Int32]
    /// (left id << 32 | right id) -> (merge rank, id of the merged symbol).
    private let merges: [UInt64: (rank: Int32, merged: Int32)]

    private let cacheLock = NSLock()
    private var cache: [String: [Int32]] = [:]
    private static let cacheLimit = 50_000

    /// Loads `vocab.json` and `merges.txt` (a diffusers `tokenizer/` folder, or `Weights/tiny-shapes`).
    /// - Throws: `TokenizerError.cannotRead` or `.malformed`.
    public convenience init(vocabulary: URL, merges: URL) throws {
        func read(_ url: URL) throws -> Data {
            do { return try Data(contentsOf: url, options: .mappedIfSafe) } catch {
                throw TokenizerError.cannotRead(file: url.path, reason: "\(error.localizedDescription)")
            }
        }
        try self.init(
            vocabularyData: read(vocabulary), mergesData: read(merges), vocabularyName: vocabulary.path,
            mergesName: merges.path)
    }

    /// Builds the tokenizer from the contents of `vocab.json` (a JSON object token -> id) and
    /// `merges.txt` (an optional `#version` line, then one merge "left right" per line, by rank).
    /// - Throws: `TokenizerError.malformed` naming the file and what is wrong.
    public init(
        vocabularyData: Data, mergesData: Data, vocabularyName: String = "vocab.json",
        mergesName: String = "merges.txt"
    ) throws {
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: vocabularyData) } catch {
            throw TokenizerError.malformed(file: vocabularyName, reason: "not JSON: \(error.localizedDescription)")
        }
        guard let object = json as? [String: Any] else {
            throw TokenizerError.malformed(file: vocabularyName, reason: "not a JSON object of token -> id")
        }
        var vocabulary: [String: Int32] = [:]
        vocabulary.reserveCapacity(object.count)
        for (token, value) in object {
            guard let number = value as? NSNumber, let id = Int32(exactly: number.doubleValue), id >= 0 else {
                throw TokenizerError.malformed(file: vocabularyName, reason: "id of '\(token)' is not an integer")
            }
            vocabulary[token] = id
        }
        guard let bos = vocabulary["<|startoftext|>"], let eos = vocabulary["<|endoftext|>"] else {
            throw TokenizerError.malformed(file: vocabularyName, reason: "no <|startoftext|> / <|endoftext|> entries")
        }
        startOfTextID = Int(bos)
        endOfTextID = Int(eos)
        vocabularySize = vocabulary.count

        // Every byte must have a symbol, alone and at a word's end; otherwise ids would silently
        // fall back to the unknown token.
        var byteIDs = [Int32](repeating: 0, count: 256)
        var byteEndOfWordIDs = [Int32](repeating: 0, count: 256)
        for (byte, symbol) in Self.byteSymbols.enumerated() {
            guard let id = vocabulary[String(symbol)], let endID = vocabulary[String(symbol) + "</w>"] else {
                throw TokenizerError.malformed(
                    file: vocabularyName, reason: "no symbol for byte \(byte) ('\(symbol)' / '\(symbol)</w>')")
            }
            byteIDs[byte] = id
            byteEndOfWordIDs[byte] = endID
        }
        self.byteIDs = byteIDs
        self.byteEndOfWordIDs = byteEndOfWordIDs

        guard let mergesText = String(data: mergesData, encoding: .utf8) else {
            throw TokenizerError.malformed(file: mergesName, reason: "not UTF-8 text")
        }
        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        merges.reserveCapacity(50_000)
        var rank: Int32 = 0
        for (lineIndex, line) in mergesText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = line.hasSuffix("\r") ? line.dropLast() : line
            if line.isEmpty || (lineIndex == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let left = vocabulary[String(parts[0])], let right = vocabulary[String(parts[1])],
                let merged = vocabulary[String(parts[0]) + String(parts[1])]
            else {
                throw TokenizerError.malformed(
                    file: mergesName, reason: "line \(lineIndex + 1) '\(line)' is not a merge of two vocabulary symbols")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            if merges[key] == nil { merges[key] = (rank, merged) }  // the first (best) rank wins, as in HF
            rank += 1
        }
        guard !merges.isEmpty else { throw TokenizerError.malformed(file: mergesName, reason: "no merges") }
        self.merges = merges
    }

    /// Token ids of `text`, without BOS/EOS. Exact `<|startoftext|>` / `<|endoftext|>` strings in
    /// the text become their ids (as HF's added-token split does before normalisation).
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in Self.splitSpecialTokens(text) {
            switch segment {
            case .special(let isStart): ids.append(isStart ? startOfTextID : endOfTextID)
            case .text(let part):
                for word in CLIPPreTokenizer.words(part) {
                    ids.append(contentsOf: bpe(word).lazy.map { Int($0) })
                }
            }
        }
        return ids
    }

    // MARK: - BPE

    /// Symbol ids of one pre-tokenized word: its UTF-8 bytes as byte symbols (the last with `</w>`),
    /// merged by lowest merge rank until no merge applies (all occurrences of the best pair, left to
    /// right, per round: OpenAI's `bpe`; HF's priority-queue order gives the same result).
    func bpe(_ word: [Unicode.Scalar]) -> [Int32] {
        var key = ""
        key.unicodeScalars.append(contentsOf: word)
        cacheLock.lock()
        let cached = cache[key]
        cacheLock.unlock()
        if let cached { return cached }

        let bytes = Array(key.utf8)
        var symbols = bytes.enumerated().map { index, byte in
            index == bytes.count - 1 ? byteEndOfWordIDs[Int(byte)] : byteIDs[Int(byte)]
        }
        while symbols.count > 1 {
            var best: (rank: Int32, merged: Int32, left: Int32, right: Int32)?
            for i in 0..<(symbols.count - 1) {
                if let m = merges[Self.pairKey(symbols[i], symbols[i + 1])], m.rank < (best?.rank ?? .max) {
                    best = (m.rank, m.merged, symbols[i], symbols[i + 1])
                }
            }
            guard let best else { break }
            var next: [Int32] = []
            next.reserveCapacity(symbols.count)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count && symbols[i] == best.left && symbols[i + 1] == best.right {
                    next.append(best.merged)
                    i += 2
                } else {
                    next.append(symbols[i])
                    i += 1
                }
            }
            symbols = next
        }

        cacheLock.lock()
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[key] = symbols
        cacheLock.unlock()
        return symbols
    }

    private static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
    }

    /// GPT-2 `bytes_to_unicode`: printable bytes map to themselves, the other 68 to U+0100 onwards,
    /// so that every byte has a visible, non-space symbol in the vocabulary.
    static let byteSymbols: [Character] = {
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        var symbols = [Character](repeating: " ", count: 256)
        var next = 256
        for byte in 0..<256 {
            if printable.contains(byte) {
                symbols[byte] = Character(Unicode.Scalar(UInt8(byte)))
            } else {
                symbols[byte] = Unicode.Scalar(UInt16(next)).map(Character.init) ?? " "  // 256...323: always valid
                next += 1
            }
        }
        return symbols
    }()

    // MARK: - Special tokens

    private enum Segment {
        case text(String)
        case special(isStart: Bool)
    }

    /// Splits out exact (case-sensitive) `<|startoftext|>` / `<|endoftext|>` occurrences.
    private static func splitSpecialTokens(_ text: String) -> [Segment] {
        let scalars = Array(text.unicodeScalars)
        var segments: [Segment] = []
        var current = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            if scalars[i] == "<" {
                if CLIPPreTokenizer.hasPrefix(scalars, CLIPPreTokenizer.specialLiterals[0], at: i) {
                    if !current.isEmpty { segments.append(.text(String(current))) }
                    current = String.UnicodeScalarView()
                    segments.append(.special(isStart: true))
                    i += CLIPPreTokenizer.specialLiterals[0].count
                    continue
                }
                if CLIPPreTokenizer.hasPrefix(scalars, CLIPPreTokenizer.specialLiterals[1], at: i) {
                    if !current.isEmpty { segments.append(.text(String(current))) }
                    current = String.UnicodeScalarView()
                    segments.append(.special(isStart: false))
                    i += CLIPPreTokenizer.specialLiterals[1].count
                    continue
                }
            }
            current.append(scalars[i])
            i += 1
        }
        if !current.isEmpty { segments.append(.text(String(current))) }
        return segments
    }
}
