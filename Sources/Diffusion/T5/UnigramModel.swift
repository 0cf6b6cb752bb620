import Foundation

/// The SentencePiece Unigram model of a `tokenizer.json` (`"model": {"type": "Unigram", ...}`):
/// pieces with log-probability scores, segmented by Viterbi.
///
/// Matches tokenizers 0.23 `models/unigram/model.rs` (`encode_optimized`, from sentencepiece
/// `unigram_model.cc`): at each character boundary every vocabulary piece starting there is tried
/// in order of increasing length, a path replaces the best one only when its score is strictly
/// higher; a character that starts no single-character piece gets an unknown node with score
/// `min(score) - 10`. Consecutive unknown characters fuse into one `<unk>` (`fuse_unk`, always on
/// for Unigram); with `byte_fallback` an unknown span becomes its `<0xXX>` byte pieces when all of
/// them exist.
struct UnigramModel: Sendable {
    let scores: [Double]
    let unknownID: Int
    let byteFallback: Bool
    /// Score of an unknown character's node: the lowest piece score minus 10 (`K_UNK_PENALTY`).
    let unknownScore: Double
    /// UTF-8 byte trie of all pieces: child of (node, byte) is `children[node << 8 | byte]`.
    private let children: [Int: Int32]
    /// Piece id ending at each trie node, -1 where none.
    private let pieceAtNode: [Int32]
    /// Ids of `<0x00>` ... `<0xFF>` (-1 where absent), for byte fallback.
    private let byteIDs: [Int]
    private let idOfPiece: [String: Int]

    init(json object: TokenizerJSONObject) throws {
        let entries = try object.array("vocab")
        var scores: [Double] = [], idOfPiece: [String: Int] = [:]
        var children: [Int: Int32] = [:], pieceAtNode: [Int32] = [-1]
        scores.reserveCapacity(entries.count)
        for (id, entry) in entries.enumerated() {
            guard let pair = entry as? [Any], pair.count == 2, let piece = pair[0] as? String, let score = pair[1] as? NSNumber
            else { throw object.malformed("vocab[\(id)] is not [piece, score]") }
            scores.append(score.doubleValue)
            // tokenizers keeps the last id of a duplicated piece in its map and trie.
            idOfPiece[piece] = id
            var node = 0
            for byte in piece.utf8 {
                let key = node << 8 | Int(byte)
                if let child = children[key] {
                    node = Int(child)
                } else {
                    pieceAtNode.append(-1)
                    node = pieceAtNode.count - 1
                    children[key] = Int32(node)
                }
            }
            if node != 0 { pieceAtNode[node] = Int32(id) }
        }
        guard !scores.isEmpty else { throw object.malformed("empty vocab") }
        if object.isNull("unk_id") { throw object.unsupported("a Unigram model without unk_id") }
        let unknownID = try object.int("unk_id")
        guard scores.indices.contains(unknownID) else { throw object.malformed("unk_id \(unknownID) outside the vocab") }
        self.scores = scores
        self.unknownID = unknownID
        self.byteFallback = try object.bool("byte_fallback", default: false)
        unknownScore = (scores.min() ?? 0) - 10
        self.children = children
        self.pieceAtNode = pieceAtNode
        self.idOfPiece = idOfPiece
        byteIDs = (0..<256).map { idOfPiece[String(format: "<0x%02X>", $0)] ?? -1 }
    }

    var vocabularySize: Int { scores.count }

    /// The id of a vocabulary piece.
    func id(of piece: String) -> Int? { idOfPiece[piece] }

    /// Token ids of one pre-tokenized piece.
    func encode(_ piece: String, into ids: inout [Int]) {
        let bytes = Array(piece.utf8)
        guard !bytes.isEmpty else { return }
        // best[e]: the best path over bytes 0 ..< e: its score, the start of its last piece, that piece's id.
        var bestScore = [Double](repeating: 0, count: bytes.count + 1)
        var bestStart = [Int](repeating: -1, count: bytes.count + 1)
        var bestID = [Int](repeating: 0, count: bytes.count + 1)
        var start = 0
        while start < bytes.count {
            let characterLength = Self.utf8Length(bytes[start])
            let base = bestScore[start]
            var hasSingleCharacter = false
            var node = 0, end = start
            while end < bytes.count, let child = children[node << 8 | Int(bytes[end])] {
                node = Int(child)
                end += 1
                let id = Int(pieceAtNode[node])
                guard id >= 0 else { continue }
                let candidate = base + scores[id]
                if bestStart[end] < 0 || candidate > bestScore[end] {
                    (bestScore[end], bestStart[end], bestID[end]) = (candidate, start, id)
                }
                if end - start == characterLength { hasSingleCharacter = true }
            }
            let next = min(start + characterLength, bytes.count)
            if !hasSingleCharacter {
                let candidate = base + unknownScore
                if bestStart[next] < 0 || candidate > bestScore[next] {
                    (bestScore[next], bestStart[next], bestID[next]) = (candidate, start, unknownID)
                }
            }
            start = next
        }
        // Back-track; fuse runs of unknown nodes into one span.
        var spans: [(range: Range<Int>, id: Int)] = []
        var end = bytes.count
        while end > 0 {
            let s = bestStart[end], id = bestID[end]
            if id == unknownID, let last = spans.last, last.id == unknownID, last.range.lowerBound == end {
                spans[spans.count - 1].range = s..<last.range.upperBound
            } else {
                spans.append((s..<end, id))
            }
            end = s
        }
        for (range, id) in spans.reversed() {
            guard id == unknownID else {
                ids.append(id)
                continue
            }
            // A fused span is looked up as a piece again (tokenizers' `token_to_ids.get`).
            let text = String(decoding: bytes[range], as: UTF8.self)
            if let known = idOfPiece[text] {
                ids.append(known)
            } else if byteFallback, bytes[range].allSatisfy({ byteIDs[Int($0)] >= 0 }) {
                ids.append(contentsOf: bytes[range].map { byteIDs[Int($0)] })
            } else {
                ids.append(unknownID)
            }
        }
    }

    /// Bytes of the UTF-8 sequence that `lead` starts (1 for a stray continuation byte; Swift
    /// strings are valid UTF-8, so that does not occur).
    @inline(__always) static func utf8Length(_ lead: UInt8) -> Int {
        switch lead {
        case 0xF0...: 4
        case 0xE0...: 3
        case 0xC0...: 2
        default: 1
        }
    }
}
