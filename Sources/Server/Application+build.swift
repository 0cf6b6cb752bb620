import Diffusion
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the HTTP server over one loaded model (named `configuration.modelName` or its own name).
/// - Throws: as the pool's `buildApplication`.
public func buildApplication(
    configuration: ServerConfiguration, generator: any ImageGenerating, logger: Logger? = nil
) throws -> some ApplicationProtocol {
    try buildApplication(
        configuration: configuration, models: ModelPool(single: generator, name: configuration.modelName ?? generator.modelName),
        logger: logger)
}

/// Builds the HTTP server over a pool of models: routes, middleware (CORS, metrics, errors, auth), the job
/// queue, the file sweeper, and the connection limits and idle timeout.
/// - Parameter onListening: called once the socket is bound (and the graceful-shutdown signal
///   handlers of `runService` are in place).
/// - Throws: `APIKey.Problem` for an API key no client could send (an empty one no longer
///   means "no key"), or when the output folder cannot be created.
public func buildApplication(
    configuration: ServerConfiguration, models: ModelPool, logger: Logger? = nil,
    onListening: @escaping @Sendable () -> Void = {}
) throws -> some ApplicationProtocol {
    if let key = configuration.apiKey { try APIKey.check(key) }
    var log = logger ?? Logger(label: "sd.server")
    if logger == nil { log.logLevel = configuration.logLevel }
    let store = try FileStore(directory: configuration.outputDirectory, timeToLive: configuration.fileTimeToLive)
    if access(store.root.path, W_OK) != 0 {
        // Not fatal: the folder may become writable; until then generations get a 500 saying so.
        log.warning("the output folder \(store.root.path) is not writable (\(String(cString: strerror(errno)))); generations fail until it is")
    }
    let queue = JobQueue(models: models, configuration: configuration, logger: log)
    var state = ServerState(
        configuration: configuration, queue: queue, store: store,
        renderer: ImageResponseRenderer(store: store, urlPrefix: configuration.resolvedDownloadURLPrefix),
        models: models, logger: log)
    var services: [any Service] = [FileSweeper(store: store, interval: configuration.fileSweepInterval, logger: log)]
    if let cluster = configuration.cluster {
        let client = ClusterService.makeClient(cluster, logger: log)
        let jobs = ClusterJobs(store: ClusterJobStore(client: client, owner: cluster.replicaID, logger: log), configuration: cluster, server: configuration)
        state.cluster = jobs
        services.append(ClusterService(client: client, jobs: jobs, state: state, logger: log))
    }

    let router = Router(context: ServerRequestContext.self)
    // Outermost first: CORS headers go on every answer, errors included.
    router.add(middleware: CORSMiddleware())
    router.add(middleware: HTTPMetricsMiddleware(metrics: queue.metrics))
    router.add(middleware: ErrorMiddleware(maxBodySize: configuration.maxBodySize))
    if let key = configuration.apiKey {
        router.add(middleware: AuthMiddleware(apiKey: key, publicPaths: configuration.servesWebPage ? WebRoutes.publicPaths : []))
    }
    ImageRoutes(state: state).register(on: router)
    JobRoutes(state: state).register(on: router)
    FileRoutes(state: state).register(on: router)
    ModelRoutes(state: state).register(on: router)
    A1111Routes(state: state).register(on: router)
    if configuration.servesWebPage {
        let assets = WebRoutes.load()
        if assets == nil { log.warning("the web page's files (swift-sd_Server.resources beside the binary) were not found; GET / answers 404") }
        WebRoutes(assets: assets).register(on: router)
    }
    MetricsRoutes(state: state).register(on: router)

    let limiter = ConnectionLimiter(limit: configuration.maxConnections, logger: log)
    let overflowDeadline = TimeAmount(configuration.overflowDeadline)
    let retryAfter = configuration.retryAfterSeconds
    let http = HTTP1Channel.Configuration(
        additionalChannelHandlers: [
            ConnectionLimitHandler(limiter: limiter, overflowDeadline: overflowDeadline, retryAfterSeconds: retryAfter),
            ConnectionInputState(),
        ],
        idleTimeout: configuration.idleTimeout.map { TimeAmount($0) })
    let base = Application(
        router: router,
        server: .http1(configuration: http),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: "sd",
            // Past every slot, accepting pauses, so the process stays under its open-file limit.
            availableConnectionsDelegate: MaximumAvailableConnections(
                configuration.maxConnections + configuration.connectionHeadroom, logger: log)),
        services: services,
        onServerRunning: { _ in onListening() },
        logger: log)
    return ImageServerApplication(base: base, queue: queue)
}
