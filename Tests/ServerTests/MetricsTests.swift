import Diffusion
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
@testable import Server
import Testing

/// `GET /metrics`: valid exposition text whose counters and histograms move by what happened.
@Suite struct MetricsTests {
    static func scrape(_ client: LiveClient, headers: HTTPFields = [:]) async throws -> PrometheusText {
        let response = try await client.execute(uri: "/metrics", method: .get, headers: headers)
        #expect(response.status == .ok)
        #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
        return try PrometheusText(response.text)
    }

    /// One generation of 2 pictures of 3 steps with the built-in model: one succeeded job, 2 x
    /// (3 - 1) timed steps (each picture's first is not), 2 picture times, one 200 on the route.
    @Test func aGenerationMovesTheCountersByItsSize() async throws {
        let pipeline = try #require(builtInPipeline, "the built-in model must load")
        try await withServer(generator: pipeline) { client in
            let before = try await Self.scrape(client)
            let succeeded = ["state": "succeeded"]
            #expect(before.value("sd_jobs_finished_total", succeeded) == 0)
            #expect(before.value("sd_step_duration_seconds_count") == 0 && before.value("sd_image_duration_seconds_count") == 0)
            #expect(before.types["sd_step_duration_seconds"] == "histogram" && before.types["sd_jobs_finished_total"] == "counter")
            #expect(before.value("sd_model_loaded", ["model": pipeline.modelName]) == 1)
            #expect(before.value("sd_jobs_queued") == 0 && before.value("sd_jobs_running") == 0)
            #expect((before.value("process_resident_memory_bytes") ?? 0) > 1_000_000)

            let response = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": "a red circle", "size": "64x64", "steps": 3, "n": 2, "response_format": "b64_json"}"#)
            #expect(response.status == .ok, "\(response.text.prefix(300))")

            let after = try await Self.scrape(client)
            #expect(after.value("sd_jobs_finished_total", succeeded) == 1)
            #expect(after.value("sd_jobs_finished_total", ["state": "failed"]) == 0)
            #expect(after.value("sd_jobs_finished_total", ["state": "cancelled"]) == 0)
            #expect(after.value("sd_step_duration_seconds_count") == 4)
            #expect(after.value("sd_image_duration_seconds_count") == 2)
            #expect((after.value("sd_step_duration_seconds_sum") ?? 0) > 0 && (after.value("sd_image_duration_seconds_sum") ?? 0) > 0)
            // Every step lands in some bucket up to +Inf, and the buckets span 10 ms to 120 s.
            #expect(after.value("sd_step_duration_seconds_bucket", ["le": "+Inf"]) == 4)
            #expect(after.value("sd_step_duration_seconds_bucket", ["le": "0.01"]) != nil)
            #expect(after.value("sd_step_duration_seconds_bucket", ["le": "120.0"]) == 4)
            #expect(after.value("sd_http_requests_total", ["route": "/v1/images/generations", "method": "POST", "status": "200"]) == 1)
            // The first scrape was answered before the second was counted.
            #expect(after.value("sd_http_requests_total", ["route": "/metrics", "method": "GET", "status": "200"]) == 1)
        }
    }

    /// Failed and cancelled (queued and running) jobs are counted by state; the gauges show jobs
    /// waiting and running while they do.
    @Test func failuresCancellationsAndTheQueueAreCounted() async throws {
        struct Boom: Error {}
        try await withServer(generator: FakeGenerator(failure: Boom())) { client in
            _ = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#)
            let text = try await Self.scrape(client)
            #expect(text.value("sd_jobs_finished_total", ["state": "failed"]) == 1)
            #expect(text.value("sd_jobs_finished_total", ["state": "succeeded"]) == 0)
            #expect(text.value("sd_http_requests_total", ["route": "/v1/images/generations", "method": "POST", "status": "500"]) == 1)
        }
        let blocked = FakeGenerator(gateOpen: false)
        try await withServer(generator: blocked) { client in
            var ids: [String] = []
            for _ in 0..<2 {
                let response = try await client.postJSON("/v1/images/generations/jobs", #"{"prompt": "x", "steps": 1}"#)
                #expect(response.status == .accepted, "\(response.text)")
                ids.append(try response.decode(JobStatusResponse.self).id)
            }
            #expect(try await eventually { blocked.runningCount == 1 })
            let waiting = try await Self.scrape(client)
            #expect(waiting.value("sd_jobs_running") == 1 && waiting.value("sd_jobs_queued") == 1)
            for id in ids.reversed() {
                #expect(try await client.execute(uri: "/v1/images/jobs/\(id)/cancel", method: .post).status == .ok)
            }
            #expect(try await eventually { try await Self.scrape(client).value("sd_jobs_running") == 0 })
            let done = try await Self.scrape(client)
            #expect(done.value("sd_jobs_finished_total", ["state": "cancelled"]) == 2)
            #expect(done.value("sd_jobs_queued") == 0)
            // Unknown paths share one label value, whatever the path.
            _ = try await client.execute(uri: "/no/such/\(UUID())", method: .get)
            let after = try await Self.scrape(client)
            #expect(after.value("sd_http_requests_total", ["route": "NotFound", "method": "GET", "status": "404"]) == 1)
        }
    }

    /// With an API key, `/metrics` stays open (as `/health`) while other routes need the key;
    /// the refusals are counted with their status.
    @Test func metricsNeedNoAPIKey() async throws {
        try await withServer(testConfiguration { $0.apiKey = "s3cret" }, generator: FakeGenerator()) { client in
            #expect(try await client.execute(uri: "/v1/models", method: .get).status == .unauthorized)
            let text = try await Self.scrape(client)
            #expect(text.value("sd_http_requests_total", ["route": "/v1/models", "method": "GET", "status": "401"]) == 1)
            #expect(try await client.execute(uri: "/metrics", method: .post).status == .methodNotAllowed)
        }
    }

    @Test func stepTimerTimesAllButEachPicturesFirstStep() {
        let start = ContinuousClock.now
        var timer = StepTimer<ContinuousClock.Instant>()
        let reports: [(image: Int, at: Duration)] = [(0, .seconds(1)), (0, .seconds(2)), (0, .seconds(4)), (1, .seconds(9)), (1, .milliseconds(9500))]
        let times = reports.map { timer.report(image: $0.image, at: start + $0.at) }
        #expect(times == [nil, .seconds(1), .seconds(2), nil, .milliseconds(500)])
    }

    @Test func residentMemoryReadsStatm() {
        #expect(ResidentMemory.bytes(statmText: "2000 25 3 1 0 10 0\n", pageSize: 4096) == 25 * 4096)
        #expect(ResidentMemory.bytes(statmText: "", pageSize: 4096) == nil)
        #if os(Linux)
        #expect((ResidentMemory.bytes() ?? 0) > 0)
        #endif
    }

    /// The checker itself refuses what scrapers refuse (so the tests above can fail).
    @Test(arguments: [
        "a 1\n",  // no TYPE
        "# TYPE a counter\na{b=\"c} 1\n",  // unterminated value
        "# TYPE a counter\na{b=\"\\x\"} 1\n",  // bad escape
        "# TYPE a counter\na one\n",  // bad value
        "# TYPE a counter\na 1",  // no final line feed
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",  // not cumulative
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",  // +Inf != count
        "# TYPE 1a gauge\n1a 1\n",  // bad name
    ])
    func theCheckerRefusesBadText(text: String) {
        #expect(throws: PrometheusText.Problem.self) { try PrometheusText(text) }
    }
}
