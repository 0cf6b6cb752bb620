import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// The Hummingbird application plus the job queue, run so that graceful shutdown stops
/// generations first and drains HTTP connections second (a plain Application would drain the
/// connections first and so wait for every queued generation).
public struct ImageServerApplication<Base: ApplicationProtocol>: ApplicationProtocol {
    public typealias Responder = Base.Responder

    let base: Base
    let queue: JobQueue

    /// The router's responder.
    public var responder: Responder { get async throws { try await base.responder } }
    /// HTTP/1.1.
    public var server: HTTPServerBuilder { base.server }
    /// The shared NIO event loops.
    public var eventLoopGroup: any EventLoopGroup { base.eventLoopGroup }
    /// Bind address and server name.
    public var configuration: ApplicationConfiguration { base.configuration }
    /// The server's logger.
    public var logger: Logger { base.logger }
    /// Services run beside the server (the file sweeper).
    public var services: [any Service] { base.services }
    /// Nothing runs before the server starts.
    public var processesRunBeforeServerStart: [@Sendable () async throws -> Void] { base.processesRunBeforeServerStart }
    /// Called once the socket is bound.
    @Sendable public func onServerRunning(_ channel: any Channel) async { await base.onServerRunning(channel) }

    /// Runs the server and the queue; on graceful shutdown the queue (listed last) stops first.
    public func run() async throws {
        let group = ServiceGroup(
            configuration: .init(services: [base, JobQueueService(queue: queue)], logger: logger))
        try await withGracefulShutdownHandler {
            try await group.run()
        } onGracefulShutdown: {
            Task { await group.triggerGracefulShutdown() }
        }
    }
}
