import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// Runs cluster mode beside the HTTP server: the database connection pool, the schema
/// migration (retried until the database answers), the worker that leases jobs, and a sweep of
/// old files and job rows. On graceful shutdown the worker stops leasing and hands its running
/// jobs back to the queue (the local queue stops them), then the pool closes.
struct ClusterService: Service {
    let client: PostgresClient
    let jobs: ClusterJobs
    let state: ServerState
    let logger: Logger

    /// The pool for `configuration`'s database (nothing connects until `run`).
    static func makeClient(_ configuration: ClusterConfiguration, logger: Logger) -> PostgresClient {
        let url = configuration.database
        let tls: PostgresClient.Configuration.TLS
        switch url.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var options = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: tls)
        // Leases, heartbeats (one per running job), claims and the polls of every client share
        // these; a few stay open so a poll does not wait for a connection to be made.
        options.options.maximumConnections = configuration.maxConnections
        options.options.minimumConnections = min(2, configuration.maxConnections)
        options.options.connectTimeout = .seconds(5)
        // After the database restarts, the pool notices its dead idle connections at their next
        // keep-alive query; at the default 30 s that was 30 s of 503s. A query every 5 s per idle
        // connection costs little.
        options.options.keepAliveBehavior = .init(frequency: .seconds(5))
        return PostgresClient(configuration: options, backgroundLogger: logger)
    }

    func run() async throws {
        // Detached, so the pool does not close itself at the start of graceful shutdown
        // (`PostgresClient.run` watches for it): the worker still writes its released jobs
        // then. It is cancelled last, below.
        let pool = Task.detached { [client] in await client.run() }
        await withDiscardingTaskGroup { group in
            if await migrate() {
                jobs.markReady()
                logger.info("cluster mode: replica \(jobs.configuration.replicaID) on \(jobs.configuration.database.redacted)")
                group.addTask { await sweep() }
                await ClusterWorker(jobs: jobs, state: state, logger: logger).run()
            }
            // The worker also stops when the local queue does, which is the first step of the
            // shutdown: polls keep their database until the HTTP server has drained.
            try? await gracefulShutdown()
            group.cancelAll()  // the sweeper
        }
        pool.cancel()
        await pool.value
    }

    /// Creates or updates the schema, retrying every few seconds while the database is
    /// unreachable. Returns false when shutdown came first.
    private func migrate() async -> Bool {
        var tries = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await ClusterSchema.migrate(client, logger: logger)
                return true
            } catch {
                tries += 1
                if tries == 1 || tries % 12 == 0 {
                    logger.error("cannot prepare the job database; retrying", metadata: ["error": "\(String(reflecting: error).prefix(400))"])
                }
                try? await Task.sleep(for: .seconds(5))
            }
        }
        return false
    }

    private func sweep() async {
        while !Task.isCancelled {
            do {
                try await jobs.store.sweep(
                    fileTimeToLive: state.configuration.fileTimeToLive, retention: jobs.configuration.finishedJobRetention)
            } catch {
                logger.debug("cluster sweep failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: state.configuration.fileSweepInterval)
        }
    }
}
