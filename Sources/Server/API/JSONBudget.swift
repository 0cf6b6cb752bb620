/// Bounds on the shape of a JSON request body, checked in one pass over its bytes before any
/// decoder sees it.
///
/// The body limit alone does not bound decoding memory: a decoder materializes every value,
/// ignored fields included, at several machine words each, so 30 MB of `[0,0,0,...]` in an
/// unknown field cost about 27 times the body. No field of this API holds more than a handful
/// of values (`control_image` is a small object), so counting values and nesting without
/// building them is enough; strings cost nothing here whatever their length.
struct JSONBudget {
    /// Most values (array elements and object members, counted by their separators, plus
    /// containers) in one body.
    var maxValues = 10_000
    /// Deepest nesting of arrays and objects.
    var maxDepth = 32

    /// Checks `bytes`; malformed JSON within the bounds is left to the decoder to report.
    /// - Throws: `ServerError.invalidField` naming the top-level field where a bound was
    ///   crossed (none when the body is not an object).
    func check(_ bytes: UnsafeRawBufferPointer) throws {
        var depth = 0, values = 0
        var inString = false, escaped = false
        var topIsObject = false, expectingTopKey = false
        var keyStart: Int?
        var currentKey: Range<Int>?

        func fieldName() -> String? {
            currentKey.map { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[$0]).prefix(100), as: UTF8.self) }
        }
        func refuse(_ problem: String) -> ServerError {
            guard let field = fieldName() else { return .invalidField(field: nil, message: "the JSON body \(problem)") }
            return .invalidField(field: field, message: "'\(field)' \(problem); no field of this API takes that much")
        }

        for i in 0..<bytes.count {
            let c = bytes[i]
            if inString {
                if escaped {
                    escaped = false
                } else if c == UInt8(ascii: "\\") {
                    escaped = true
                } else if c == UInt8(ascii: "\"") {
                    inString = false
                    if let start = keyStart {
                        currentKey = start..<i
                        keyStart = nil
                    }
                }
                continue
            }
            switch c {
            case UInt8(ascii: "\""):
                inString = true
                if depth == 1 && expectingTopKey {
                    keyStart = i + 1
                    expectingTopKey = false
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                values += 1
                guard depth <= maxDepth else { throw refuse("nests deeper than \(maxDepth) levels") }
                if depth == 1 {
                    topIsObject = c == UInt8(ascii: "{")
                    expectingTopKey = topIsObject
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                values += 1
                if depth == 1 && topIsObject { expectingTopKey = true }
            default:
                break
            }
            guard values <= maxValues else { throw refuse("holds more than \(maxValues) JSON values") }
        }
    }
}
