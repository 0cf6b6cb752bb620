import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
@testable import Server
import Testing

/// Idle sockets cannot pile up: connections that send nothing are closed after the idle
/// timeout (a half-sent request head included), and past `maxConnections` new connections get
/// one answer and are closed: `GET /health` is answered normally, anything else 503 with
/// `Retry-After`, and the limit is logged once. Real sockets on 127.0.0.1, a handful of them.
@Suite struct ConnectionLimitTests {
    /// Runs `test` against a live server with `configuration`, recording its log messages.
    func withLoggedServer(
        _ configuration: ServerConfiguration, _ test: @escaping @Sendable (Int, LogRecorder) async throws -> Void
    ) async throws {
        let recorder = LogRecorder()
        let logger = Logger(label: "test") { _ in recorder.handler }
        let app = try buildApplication(configuration: configuration, generator: FakeGenerator(), logger: logger)
        defer { try? FileManager.default.removeItem(atPath: configuration.outputDirectory) }
        try await app.test(.live) { client in
            try await test(try #require(client.port), recorder)
        }
    }

    /// Connects and reads until the server closes; the text read and the seconds it took.
    static func readUntilClosed(port: Int, sending request: String?) async throws -> (text: String, seconds: Double) {
        let connection = try RawHTTPConnection(port: port)
        defer { connection.closeConnection() }
        let start = ContinuousClock.now
        let text = await offPool {
            if let request { connection.send(request) }
            return connection.read()
        }
        let elapsed = ContinuousClock.now - start
        return (text, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    @Test func idleAndHalfSentConnectionsAreClosedAfterTheIdleTimeout() async throws {
        let configuration = testConfiguration { $0.idleTimeout = .seconds(1) }
        try await withLoggedServer(configuration) { port, _ in
            async let silent = Self.readUntilClosed(port: port, sending: nil)
            async let halfHead = Self.readUntilClosed(port: port, sending: "GET /health HTTP/1.1\r\nHost: x\r\n")
            async let keptAlive = Self.readUntilClosed(port: port, sending: "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            let (a, b, c) = try await (silent, halfHead, keptAlive)
            #expect(a.text.isEmpty && b.text.isEmpty)
            #expect(c.text.hasPrefix("HTTP/1.1 200"))
            // Closed by the server (read returned), well before the 300 s socket timeout and not
            // before the idle timeout.
            for (name, seconds) in [("silent", a.seconds), ("half head", b.seconds), ("keep-alive", c.seconds)] {
                #expect(seconds >= 0.9 && seconds < 60, "\(name): closed after \(seconds) s")
            }
        }
    }

    @Test func atTheLimitHealthIsAnsweredAndTheRestGets503() async throws {
        let configuration = testConfiguration {
            $0.maxConnections = 4
            $0.idleTimeout = .seconds(120)
            // The numeric suites running beside this one can hold a request back for seconds;
            // the deadline has its own test below.
            $0.overflowDeadline = .seconds(30)
        }
        try await withLoggedServer(configuration) { port, log in
            // Four keep-alive connections, each shown to be open and served by one answer.
            let held = try (0..<4).map { _ in try RawHTTPConnection(port: port) }
            defer { held.forEach { $0.closeConnection() } }
            for connection in held {
                let reply = await offPool {
                    connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    return connection.read(until: "\"status\"")
                }
                #expect(reply.hasPrefix("HTTP/1.1 200"))
            }

            let refused = try await Self.readUntilClosed(port: port, sending: "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(refused.text.hasPrefix("HTTP/1.1 503"), "\(refused.text)")
            #expect(refused.text.lowercased().contains("retry-after: 5"))
            #expect(refused.text.contains(#""code":"too_many_connections""#))

            let health = try await Self.readUntilClosed(port: port, sending: "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(health.text.hasPrefix("HTTP/1.1 200"), "\(health.text)")
            #expect(health.text.lowercased().contains("connection: close"))
            #expect(health.seconds < 60)  // closed after its answer, not left open

            // One answer only: a request pipelined behind the health check is not served.
            let pipelined = try await Self.readUntilClosed(
                port: port, sending: "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(pipelined.text.components(separatedBy: "HTTP/1.1 ").count == 2, "\(pipelined.text)")
            #expect(!pipelined.text.contains("\"object\":\"list\""))  // the model list's body

            let warnings = log.messages.filter { $0.contains("connection limit reached") }
            #expect(warnings.count == 1, "\(log.messages)")

            // Once one of the four closes, a new connection is served in full again.
            held[0].closeConnection()
            let served = try await eventually {
                let reply = try await Self.readUntilClosed(port: port, sending: "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return reply.text.hasPrefix("HTTP/1.1 200")
            }
            #expect(served)
        }
    }

    /// An overflow connection that never sends a request does not hold its slot.
    @Test func aSilentOverflowConnectionIsClosedAtItsDeadline() async throws {
        let configuration = testConfiguration {
            $0.maxConnections = 1
            $0.idleTimeout = .seconds(120)
            $0.overflowDeadline = .seconds(1)
        }
        try await withLoggedServer(configuration) { port, _ in
            let held = try RawHTTPConnection(port: port)
            defer { held.closeConnection() }
            let first = await offPool {
                held.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                return held.read(until: "\"status\"")
            }
            #expect(first.hasPrefix("HTTP/1.1 200"))
            let silent = try await Self.readUntilClosed(port: port, sending: nil)
            #expect(silent.text.isEmpty && silent.seconds >= 0.9 && silent.seconds < 60, "\(silent.seconds) s")
        }
    }

    @Test func theCeilingLeavesRoomUnderTheOpenFileLimit() throws {
        #expect(OpenFileLimit.connectionCeiling(softLimit: 1024, headroom: 64) == 896)
        #expect(OpenFileLimit.connectionCeiling(softLimit: 100, headroom: 64) == 1)
        let before = try #require(OpenFileLimit.current)
        let raised = try #require(OpenFileLimit.raiseToHardLimit())
        #expect(raised >= before)
    }
}

/// Collects log messages (any level) for assertions.
final class LogRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [String] = []

    var messages: [String] { lock.withLock { recorded } }
    func append(_ message: String) { lock.withLock { recorded.append(message) } }

    var handler: Handler { Handler(recorder: self) }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) { recorder.append("\(event.message)") }
    }
}
