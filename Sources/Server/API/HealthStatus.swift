/// `GET /health`.
struct HealthStatus: Codable, Equatable {
    var status = "ok"
    /// The default model.
    var model: String
    var queued: Int
    var running: Int
    /// Every model and whether it is loaded.
    var models: [Model]

    struct Model: Codable, Equatable {
        var id: String
        var loaded: Bool
    }
}
