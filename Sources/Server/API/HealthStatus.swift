/// `GET /health`.
struct HealthStatus: Codable, Equatable {
    var status = "ok"
    var model: String
    var queued: Int
    var running: Int
}
