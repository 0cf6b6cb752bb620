/// Where a running job is: picture `image` of `images`, step `step` of `steps` (both 1-based),
/// and the estimated seconds left.
struct JobProgress: Codable, Equatable, Sendable {
    var image: Int
    var images: Int
    var step: Int
    var steps: Int
    var etaSeconds: Double
    /// With `preview`, a small PNG of the current estimate, base64.
    var preview: String?

    enum CodingKeys: String, CodingKey {
        case image, images, step, steps, preview
        case etaSeconds = "eta_seconds"
    }
}
