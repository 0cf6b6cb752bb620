import Diffusion
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import Server
import Testing

/// The queue through HTTP, with a fake model that blocks until the test lets it go.
@Suite struct QueueTests {
    @Test func aFullQueueAnswers429WithRetryAfter() async throws {
        let generator = FakeGenerator(gateOpen: false)
        let configuration = testConfiguration { $0.maxQueueLength = 1 }
        try await withServer(configuration, generator: generator) { client in
            let first = try await client.postJSON("/v1/images/generations/jobs", #"{"prompt": "a", "steps": 1}"#)
            let second = try await client.postJSON("/v1/images/generations/jobs", #"{"prompt": "b", "steps": 1}"#)
            #expect(first.status == .accepted && second.status == .accepted)
            let secondJob = try second.decode(JobStatusResponse.self)
            #expect(secondJob.status == "queued" && secondJob.queuePosition == 1)
            let third = try await client.postJSON("/v1/images/generations", #"{"prompt": "c", "steps": 1}"#)
            #expect(third.status == .tooManyRequests)
            #expect(third.headers[.retryAfter] == "5")
            #expect(third.error?.type == "rate_limit_error")
            // HTTP stays responsive while the model is busy.
            #expect(try await client.execute(uri: "/v1/files", method: .get).status == .ok)
            generator.openGate()
            #expect(try await eventually {
                try await client.execute(uri: "/v1/images/jobs/\(secondJob.id)", method: .get).decode(JobStatusResponse.self).status == "completed"
            })
        }
    }

    @Test func cancellingRunningAndQueuedJobs() async throws {
        let generator = FakeGenerator(gateOpen: false)
        try await withServer(generator: generator) { client in
            let running = try await client.postJSON("/v1/images/generations/jobs", #"{"prompt": "a", "steps": 1}"#).decode(JobStatusResponse.self)
            let waiting = try await client.postJSON("/sdcpp/v1/img_gen", #"{"prompt": "b", "steps": 1}"#).decode(JobStatusResponse.self)
            #expect(running.status == "generating" && waiting.pollURL == "/sdcpp/v1/jobs/\(waiting.id)")
            let cancelledWaiting = try await client.execute(uri: "/sdcpp/v1/jobs/\(waiting.id)/cancel", method: .post)
            #expect(try cancelledWaiting.decode(JobStatusResponse.self).status == "cancelled")
            #expect(try await client.execute(uri: "/v1/images/jobs/\(running.id)", method: .delete).status == .ok)
            #expect(try await eventually {
                try await client.execute(uri: "/v1/images/jobs/\(running.id)", method: .get).decode(JobStatusResponse.self).status == "cancelled"
            })
            #expect(generator.callCount == 1, "the cancelled waiting job never ran")
        }
    }

    @Test func aClientThatDisconnectsCancelsItsJob() async throws {
        let generator = FakeGenerator(gateOpen: false)
        try await withServer(generator: generator) { client in
            let port = try #require(client.port)
            let body = #"{"prompt": "a", "steps": 1}"#
            let connection = try RawHTTPConnection(port: port)
            connection.send("POST /v1/images/generations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(try await eventually { generator.runningCount == 1 })
            connection.closeConnection()
            #expect(try await eventually { generator.runningCount == 0 }, "the generation stopped")
            let health = try await client.execute(uri: "/health", method: .get).decode(HealthStatus.self)
            #expect(health.running == 0 && health.queued == 0)
        }
    }

    @Test func aStreamingClientThatDisconnectsCancelsItsJob() async throws {
        let generator = FakeGenerator(gateOpen: false)
        try await withServer(generator: generator) { client in
            let port = try #require(client.port)
            let body = #"{"prompt": "a", "steps": 1, "stream": true}"#
            let connection = try RawHTTPConnection(port: port)
            connection.send("POST /v1/images/generations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let head = await offPool { connection.read(until: "event: started") }
            #expect(head.contains("text/event-stream") && head.contains("event: queued"), "\(head)")
            connection.closeConnection()
            #expect(try await eventually { generator.runningCount == 0 && generator.callCount == 1 })
        }
    }

    @Test func aTruncatedBodyDoesNotHurtTheServer() async throws {
        try await withServer(generator: FakeGenerator()) { client in
            let port = try #require(client.port)
            let connection = try RawHTTPConnection(port: port)
            connection.send("POST /v1/images/generations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"prompt\": \"x\"")
            connection.closeConnection()
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
        }
    }

    @Test func severalConcurrentClientsAllGetTheirPictures() async throws {
        let generator = FakeGenerator()
        let configuration = testConfiguration { $0.maxQueueLength = 16 }
        try await withServer(configuration, generator: generator) { client in
            let port = try #require(client.port)
            let seeds = try await withThrowingTaskGroup(of: UInt64?.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        try await TestClient.withClient(host: "localhost", port: port, configuration: .init(timeout: patience)) { other in
                            let response = try await other.post(
                                "/v1/images/generations", headers: [.contentType: "application/json"],
                                body: ByteBuffer(string: #"{"prompt": "p\#(i)", "steps": 2, "seed": \#(i * 10)}"#))
                            guard response.head.status == .ok, let body = response.body else { return nil }
                            return try JSONDecoder().decode(ImageResponse.self, from: Data(body.readableBytesView)).data.first?.seed
                        }
                    }
                }
                var seeds: [UInt64] = []
                for try await seed in group { if let seed { seeds.append(seed) } }
                return seeds
            }
            #expect(seeds.sorted() == (0..<8).map { UInt64($0 * 10) })
            #expect(generator.callCount == 8)
            #expect(generator.maxConcurrent == 1, "one generation at a time")
        }
    }

    @Test func shutdownStopsRunningJobsAndRefusesNewOnes() async throws {
        let generator = FakeGenerator(gateOpen: false)
        let queue = JobQueue(models: ModelPool(single: generator, name: "fake"), configuration: testConfiguration(), logger: .init(label: "test"))
        var options = Diffusion.GenerationOptions(prompt: "x")
        options.steps = 1
        let ticket = try await queue.submit(options, model: "fake", wantsPreview: false, keepsResult: false) { _ in ImageResponse(created: 0, data: []) }
        #expect(try await eventually { generator.runningCount == 1 })
        await queue.shutdown()
        var last: JobEvent?
        for await event in ticket.events { last = event }
        guard case .failed(.shuttingDown) = last else { Issue.record("expected shutting down, got \(String(describing: last))"); return }
        await #expect(throws: ServerError.shuttingDown) {
            try await queue.submit(options, model: "fake", wantsPreview: false, keepsResult: false) { _ in ImageResponse(created: 0, data: []) }
        }
    }
}

@Suite struct BodyLimitTests {
    @Test func aChunkedBodyOverTheLimitIs413() async throws {
        let configuration = testConfiguration { $0.maxBodySize = 100 }
        try await withServer(configuration, generator: FakeGenerator()) { client in
            let port = try #require(client.port)
            let connection = try RawHTTPConnection(port: port)
            defer { connection.closeConnection() }
            let chunk = #"{"prompt": ""# + String(repeating: "a", count: 150) + #""}"#
            let size = String(chunk.utf8.count, radix: 16)
            connection.send("POST /v1/images/generations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\n\(chunk)\r\n0\r\n\r\n")
            let reply = await offPool { connection.read(until: "}}") }
            #expect(reply.hasPrefix("HTTP/1.1 413"), "\(reply.prefix(200))")
            #expect(reply.contains("request_too_large"))
        }
    }
}
