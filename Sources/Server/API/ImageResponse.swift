/// The success body of the image endpoints: `{"created", "output_format", "data": [{"url" |
/// "b64_json", "prompt", "seed"}]}` (absent keys omitted, as sd-api-server and OpenAI).
struct ImageResponse: Codable, Equatable, Sendable {
    struct Item: Codable, Equatable, Sendable {
        var url: String?
        var b64JSON: String?
        var prompt: String
        /// The seed this picture used: request seed + its index.
        var seed: UInt64
        /// The stored file (never sent: the url names it), so an answer nobody receives can take
        /// its files back.
        var fileID: String?

        enum CodingKeys: String, CodingKey {
            case url, prompt, seed
            case b64JSON = "b64_json"
        }
    }

    var created: Int
    var data: [Item]
    /// png, jpeg or webp (OpenAI's gpt-image and stable-diffusion.cpp's server send it).
    var outputFormat: String?

    enum CodingKeys: String, CodingKey {
        case created, data
        case outputFormat = "output_format"
    }
}
