/// sd-api-server's `--task`: which image routes are served. The model is loaded once either way.
public enum ServerTask: String, CaseIterable, Sendable {
    case full
    case textToImage = "text2image"
    case imageToImage = "image2image"

    /// Whether `POST /v1/images/generations` is served.
    public var servesGenerations: Bool { self != .imageToImage }
    /// Whether `POST /v1/images/edits` is served.
    public var servesEdits: Bool { self != .textToImage }
}
