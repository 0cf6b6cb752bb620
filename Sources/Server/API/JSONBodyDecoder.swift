import Foundation

/// Decodes a JSON request body into one of the API's request types, naming the field in every
/// error; the body's shape is bounded first (`JSONBudget`), so no field, ignored or not, can make
/// decoding allocate a multiple of the body. Shared by the OpenAI-style and the A1111 routes.
enum JSONBodyDecoder {
    /// - Parameter integerFields: top-level integer fields, for naming the one that overflows:
    ///   Foundation's decoder reports a number too large for its type as "not valid JSON" with
    ///   no field at all.
    /// - Throws: `ServerError.invalidField`.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, integerFields: [String]) throws -> T {
        try data.withUnsafeBytes { try JSONBudget().check($0) }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            {
                for field in integerFields {
                    guard let number = object[field] as? NSNumber, !(number is Bool) else { continue }
                    let value = number.doubleValue
                    if !value.isFinite || value.rounded() != value || abs(value) > 9.2e18 {
                        throw ServerError.invalidField(field: field, message: "'\(field)' must be an integer in range")
                    }
                }
            }
            throw ServerError.decoding(error)
        }
    }
}
