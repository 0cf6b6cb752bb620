/// `GET /v1/images/jobs/{id}` (and `/sdcpp/v1/jobs/{id}`), after stable-diffusion.cpp's async
/// jobs, plus per-step progress: status `queued | generating | completed | failed | cancelled`,
/// unix times, 1-based `queue_position` while waiting, `progress` while generating, and the
/// same body as the synchronous endpoint in `result`.
struct JobStatusResponse: Codable, Equatable {
    var id: String
    var object = "image.job"
    var status: String
    var created: Int
    var started: Int?
    var completed: Int?
    var queuePosition: Int?
    var progress: JobProgress?
    var result: ImageResponse?
    var error: ErrorResponse.Detail?
    /// Where to poll (202 answers only).
    var pollURL: String?

    enum CodingKeys: String, CodingKey {
        case id, object, status, created, started, completed, progress, result, error
        case queuePosition = "queue_position"
        case pollURL = "poll_url"
    }
}
