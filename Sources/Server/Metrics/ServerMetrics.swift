import Prometheus

/// The server's Prometheus series (`GET /metrics`), in a registry of its own per server, so
/// several servers in one process (the tests) never mix their counts. Counters and histograms
/// are recorded as things happen; the gauges (queue, models, memory) are read when scraped.
///
/// Series:
/// - `sd_jobs_queued`, `sd_jobs_running`: jobs waiting and generating.
/// - `sd_jobs_finished_total{state}`: jobs by final state, `succeeded`, `failed` or `cancelled`
///   (cancelled by a client, a disconnect or shutdown, queued or running).
/// - `sd_step_duration_seconds`: sampler steps, timed between two steps of one picture; each
///   picture's first step is not timed (its time includes prompt encoding or the previous
///   picture's decoding).
/// - `sd_image_duration_seconds`: a finished generation's time (model loading and file encoding
///   not included) divided by its picture count, recorded once per picture, so `_count` counts
///   pictures and `_sum` their seconds.
/// - `sd_model_loaded{model}`: 1 for a model in memory, 0 for one that is not.
/// - `process_resident_memory_bytes`: the process's resident set.
/// - `sd_http_requests_total{route, method, status}`: answered requests; `route` is the matched
///   route pattern (`/v1/files/{id}`) or `NotFound`, so clients cannot grow the label set.
final class ServerMetrics: Sendable {
    enum JobOutcome: String, CaseIterable, Sendable {
        case succeeded, failed, cancelled
    }

    let registry: PrometheusCollectorRegistry
    private let outcomes: [JobOutcome: Counter]
    private let stepDuration: DurationHistogram
    private let imageDuration: DurationHistogram
    private let queued: Gauge
    private let running: Gauge
    private let residentMemory: Gauge

    /// 10 ms to 2 minutes: a tiny model's step on a CPU up to a large picture's.
    static let durationBuckets: [Duration] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000].map {
        .milliseconds($0)
    }

    /// The HTTP methods a `method` label takes; any other is `other`.
    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        let finished = MetricNameDescriptor(
            namespace: "sd", metricName: "jobs_finished", unitName: "total", helpText: "Jobs by final state.")
        outcomes = Dictionary(uniqueKeysWithValues: JobOutcome.allCases.map { outcome in
            (outcome, registry.makeCounter(descriptor: finished, labels: [("state", outcome.rawValue)]))
        })
        stepDuration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "sd", metricName: "step_duration", unitName: "seconds",
                helpText: "Sampler steps, timed between consecutive steps of one picture."),
            buckets: Self.durationBuckets)
        imageDuration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "sd", metricName: "image_duration", unitName: "seconds",
                helpText: "Generation time per picture (a job's time over its picture count, once per picture)."),
            buckets: Self.durationBuckets)
        queued = registry.makeGauge(
            descriptor: MetricNameDescriptor(namespace: "sd", metricName: "jobs", unitName: "queued", helpText: "Jobs waiting to run."))
        running = registry.makeGauge(
            descriptor: MetricNameDescriptor(namespace: "sd", metricName: "jobs", unitName: "running", helpText: "Jobs generating."))
        residentMemory = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "process", metricName: "resident_memory", unitName: "bytes", helpText: "Resident memory size in bytes."))
    }

    func jobFinished(_ outcome: JobOutcome) {
        outcomes[outcome]?.increment()
    }

    func stepFinished(_ duration: Duration) {
        stepDuration.record(duration)
    }

    /// `count` pictures generated in `duration`.
    func imagesGenerated(_ count: Int, in duration: Duration) {
        guard count > 0 else { return }
        let each = duration / count
        for _ in 0..<count { imageDuration.record(each) }
    }

    func requestAnswered(route: String, method: String, status: Int) {
        let shownMethod = Self.knownMethods.contains(method) ? method : "other"
        registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "sd", subsystem: "http", metricName: "requests", unitName: "total", helpText: "Answered HTTP requests."),
            labels: [("route", route), ("method", shownMethod), ("status", String(status))]
        ).increment()
    }

    /// The exposition text, with the gauges set from the values read now.
    func render(queued: Int, running: Int, models: [ModelPool.Status], residentBytes: Int?) -> [UInt8] {
        self.queued.set(to: Double(queued))
        self.running.set(to: Double(running))
        let loaded = MetricNameDescriptor(
            namespace: "sd", metricName: "model", unitName: "loaded", helpText: "1 when the model is in memory, else 0.")
        for model in models {
            registry.makeGauge(descriptor: loaded, labels: [("model", model.name)]).set(to: model.loaded ? 1.0 : 0.0)
        }
        if let residentBytes { residentMemory.set(to: Double(residentBytes)) }
        return registry.emitToBuffer()
    }
}
