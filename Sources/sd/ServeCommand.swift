import ArgumentParser
import Diffusion
import Foundation
import Logging
import Server
import Tensor

/// `sd serve`: the HTTP server, a drop-in for LlamaEdge's sd-api-server (same flags and routes)
/// with stable-diffusion.cpp-style asynchronous jobs, progress and cancel.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the OpenAI-style image API (sd-api-server compatible).",
        discussion: """
            API_KEY in the environment makes every endpoint but /health require 'Authorization: Bearer <key>'
            (surrounding whitespace is trimmed; an empty API_KEY is refused: unset it to serve without a key).
            Without --model the built-in tiny-shapes model is served.
            """)

    // sd-api-server's flags.
    @Option(name: [.customShort("m"), .long], help: "Name of the default model, in /v1/models and the request's `model` field (default: the model file's name without extension).")
    var modelName: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "A folder of further models (.safetensors / .gguf / .ckpt files and diffusers folders), chosen by a request's `model` field: the file or folder name without extension. Loaded on first use.")
    var modelDir: String?

    @Option(help: "Models kept loaded at once (the least recently used idle one is unloaded first).")
    var maxLoadedModels = 2

    @Option(help: "Weights kept loaded at once, in GB of their files (default: no limit beyond --max-loaded-models).")
    var modelMemoryGB: Double?

    @Option(help: "Longest prompt or negative prompt, in 75-token chunks; longer ones get a 400.")
    var maxPromptChunks = 32

    @Option(help: "Worker threads; -1 = all cores.")
    var threads = -1

    @Option(help: "Routes to serve: full, text2image or image2image (the model is loaded once either way).")
    var task = "full"

    @Option(help: "Address to bind, IP:PORT ([::1]:8080 for IPv6). Excludes --port.")
    var socketAddr: String?

    @Option(help: "Port to bind on all interfaces (default 8080).")
    var port: Int?

    @Option(help: "Base of returned image URLs (default: http://localhost:PORT, or the bound address).")
    var downloadURLPrefix: String?

    // Ours.
    @Option(help: "Folder for generated files (file_<uuid>/<name>).")
    var outputDir = "archives"

    @Option(help: "Seconds before a generated file is deleted; 0 keeps files forever.")
    var fileTTL = 86400

    @Option(help: "Generations that may wait in the queue; more get 429.")
    var queueLength = 16

    @Option(help: "Generations run at once.")
    var concurrency = 1

    @Option(help: "Largest width in pixels.")
    var maxWidth = 2048

    @Option(help: "Largest height in pixels.")
    var maxHeight = 2048

    @Option(help: "Largest step count.")
    var maxSteps = 150

    @Option(help: "Largest n (pictures per request).")
    var maxN = 8

    @Option(help: "Largest request body in MiB (uploads included); larger gets 413.")
    var maxBodyMB = 32

    @Option(help: "Connections served at once; past it new connections get 503 (GET /health is still answered) and are closed.")
    var maxConnections = 512

    @Option(help: "Seconds before a connection that sends nothing (idle keep-alive, an unfinished request head) is closed; 0 = never. Requests being answered are never cut.")
    var idleTimeout = 60

    // Cluster mode.
    @Option(help: "PostgreSQL URL (postgres://user:password@host:port/database; also DATABASE_URL in the environment): replicas with the same database share the asynchronous jobs and their files. Without it the server runs alone, as before.")
    var databaseURL: String?

    @Option(help: "Cluster mode: seconds a job's lease lasts unless renewed (a replica that dies holds its jobs this long before another takes them over).")
    var leaseSeconds = 15

    @Option(help: "Cluster mode: leases a job may be given before it fails (its replicas kept dying).")
    var jobAttempts = 3

    @Option(help: "Cluster mode: most connections this replica opens to the database.")
    var databaseConnections = 10

    @Option(help: "Cluster mode: this replica's name in the job table (default: host name and a random suffix).")
    var replicaID: String?

    @Flag(help: "Do not serve the web page at / (the API routes stay).")
    var noWebPage = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (prompts are logged at debug only).")
    var logLevel = "info"

    func validate() throws {
        if socketAddr != nil && port != nil { throw ValidationError("--socket-addr and --port cannot be used together") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535") }
        guard ServerTask(rawValue: task) != nil else { throw ValidationError("--task must be full, text2image or image2image") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard threads == -1 || threads >= 1 else { throw ValidationError("--threads must be -1 or at least 1") }
        guard fileTTL >= 0, queueLength >= 0, concurrency >= 1, maxN >= 1, maxSteps >= 1, maxBodyMB >= 1,
            maxConnections >= 1, idleTimeout >= 0
        else {
            throw ValidationError("limits must be positive")
        }
        do { _ = try APIKey(environmentValue: ProcessInfo.processInfo.environment["API_KEY"]) } catch {
            throw ValidationError("\(error)")
        }
        guard maxWidth >= 8, maxHeight >= 8, maxWidth % 8 == 0, maxHeight % 8 == 0 else {
            throw ValidationError("--max-width and --max-height must be multiples of 8")
        }
        guard maxLoadedModels >= 1, maxPromptChunks >= 1, modelMemoryGB.map({ $0 > 0 }) ?? true else {
            throw ValidationError("--max-loaded-models, --max-prompt-chunks and --model-memory-gb must be positive")
        }
        if let socketAddr { _ = try Self.parseSocketAddress(socketAddr) }
        if let url = resolvedDatabaseURL {
            do { _ = try DatabaseURL(url) } catch { throw ValidationError("--database-url: \(error)") }
        }
        guard leaseSeconds >= 2, jobAttempts >= 1, databaseConnections >= 2 else {
            throw ValidationError("--lease-seconds must be at least 2, --job-attempts at least 1, --database-connections at least 2")
        }
    }

    /// `--database-url`, else `DATABASE_URL` (empty counts as absent).
    var resolvedDatabaseURL: String? {
        let url = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"]
        return url?.isEmpty == false ? url : nil
    }

    /// Cluster mode's settings, nil without a database.
    func clusterConfiguration() throws -> ClusterConfiguration? {
        guard let url = resolvedDatabaseURL else { return nil }
        let host = ProcessInfo.processInfo.hostName
        var cluster = ClusterConfiguration(
            database: try DatabaseURL(url), replicaID: replicaID ?? "\(host)-\(UUID().uuidString.prefix(8).lowercased())")
        cluster.leaseDuration = .seconds(leaseSeconds)
        // Several renewals fit in a lease, so one slow round trip does not lose it.
        cluster.heartbeatInterval = min(Duration.seconds(1), Duration.seconds(leaseSeconds) / 4)
        cluster.maxAttempts = jobAttempts
        cluster.maxConnections = databaseConnections
        return cluster
    }

    func run() async throws {
        TensorStorage.useSingleHeapArena()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "sd.server")
        logger.logLevel = level
        // From here until the server listens, SIGTERM/SIGINT end the process at once, logged.
        let startup = StartupSignals(logger: logger)
        if threads >= 1 { Parallel.threadCount = threads }

        var configuration = ServerConfiguration()
        if let socketAddr {
            (configuration.host, configuration.port) = try Self.parseSocketAddress(socketAddr)
        } else {
            configuration.port = port ?? 8080
        }
        configuration.downloadURLPrefix = downloadURLPrefix
        let apiKey = try APIKey(environmentValue: ProcessInfo.processInfo.environment["API_KEY"])
        configuration.apiKey = apiKey?.value
        configuration.modelName = modelName
        configuration.task = ServerTask(rawValue: task) ?? .full
        configuration.loraModelDirectory = modelOptions.loraModelDir
        configuration.embeddingDirectory = modelOptions.embeddingDir
        configuration.servesWebPage = !noWebPage
        configuration.controlNet = modelOptions.controlNet
        configuration.outputDirectory = outputDir
        configuration.fileTimeToLive = fileTTL == 0 ? nil : .seconds(fileTTL)
        configuration.maxQueueLength = queueLength
        configuration.maxConcurrentJobs = concurrency
        configuration.limits.maxWidth = maxWidth
        configuration.limits.maxHeight = maxHeight
        configuration.limits.maxSteps = maxSteps
        configuration.limits.maxCount = maxN
        configuration.limits.maxPromptChunks = maxPromptChunks
        configuration.maxBodySize = maxBodyMB << 20
        configuration.logLevel = level
        configuration.idleTimeout = idleTimeout == 0 ? nil : .seconds(idleTimeout)
        configuration.maxConnections = maxConnections
        configuration.cluster = try clusterConfiguration()
        if let cluster = configuration.cluster {
            logger.info("cluster mode: asynchronous jobs and their files in \(cluster.database.redacted), lease \(leaseSeconds) s")
            if downloadURLPrefix == nil {
                logger.warning("cluster mode without --download-url-prefix: result URLs name this replica, not the load balancer")
            }
        }
        // Every connection is a descriptor: take what the hard limit allows and keep the
        // connection slots (and the one-answer ones past them) under it, so accepting never
        // fails and /health keeps answering at the limit.
        if let openFiles = OpenFileLimit.raiseToHardLimit() {
            let ceiling = OpenFileLimit.connectionCeiling(softLimit: openFiles, headroom: configuration.connectionHeadroom)
            if maxConnections > ceiling {
                logger.warning("--max-connections \(maxConnections) does not fit the open-file limit of \(openFiles); using \(ceiling)")
                configuration.maxConnections = ceiling
            }
        }

        logger.info("loading \(modelOptions.model ?? "the built-in model")")
        let pipeline = try modelOptions.loadPipeline()
        let networks = modelOptions.makeExtraNetworks()
        networks.attach(to: pipeline)
        logger.info("model \(pipeline.modelName): \(pipeline.family), native size \(pipeline.nativeSize)")
        logger.info("kernels \(CPUKernels.active.rawValue): \(CPUKernels.active.summary), \(Parallel.threadCount) threads")
        if apiKey?.wasTrimmed == true { logger.warning("API_KEY had whitespace around it, which was removed") }
        if configuration.apiKey != nil { logger.info("API key required (from API_KEY)") }
        let others = try modelDir.map { try ModelSource.scan(directory: $0) } ?? []
        let defaultName = modelName ?? ((pipeline.modelName as NSString).deletingPathExtension)
        let defaultSource = ModelSource(
            name: defaultName, path: modelOptions.model, estimatedBytes: modelOptions.model.map { ModelSource.size(of: $0) } ?? 0)
        let models = ModelPool(
            defaultModel: defaultSource, preloaded: pipeline, others: others, maxLoaded: maxLoadedModels,
            memoryBudget: modelMemoryGB.map { Int64($0 * 1e9) }, logger: logger
        ) { [modelOptions, networks, logger] source in
            // The default model again (evicted, or its file changed on disk): with its --vae,
            // --taesd and --prediction, as at start-up.
            if source.name == defaultName && source.path == modelOptions.model {
                let pipeline = try modelOptions.loadPipeline()
                networks.attach(to: pipeline)
                return pipeline
            }
            let controlNet = modelOptions.controlNet
            let pipeline: DiffusionPipeline
            do {
                pipeline = try DiffusionPipeline(model: source.path, controlNet: controlNet)
            } catch let error as ControlNetError {
                // The ControlNet steers the models it was made for; the others run without it.
                logger.warning("model \(source.name) runs without the ControlNet: \(error)")
                pipeline = try DiffusionPipeline(model: source.path)
                pipeline.controlNetProblem = "\(error)"
            }
            networks.attach(to: pipeline)
            return pipeline
        }
        if !others.isEmpty {
            logger.info("models in \(modelDir ?? ""): \(others.map(\.name).joined(separator: ", ")) (up to \(maxLoadedModels) loaded)")
        }
        logger.info(
            "at most \(configuration.maxConnections) connections, idle timeout \(idleTimeout == 0 ? "off" : "\(idleTimeout) s")")
        let app = try buildApplication(configuration: configuration, models: models, logger: logger) { startup.serving() }
        logger.info("listening on \(configuration.host):\(configuration.port), task \(configuration.task.rawValue)")
        try await app.runService()
    }

    /// `IP:PORT`, `[IPv6]:PORT` or `IPv6:PORT` (the last colon separates the port).
    static func parseSocketAddress(_ text: String) throws -> (host: String, port: Int) {
        var host: Substring, portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw ValidationError("--socket-addr must be IP:PORT, got '\(text)'") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw ValidationError("--socket-addr must be IP:PORT, got '\(text)'") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else {
            throw ValidationError("--socket-addr must be IP:PORT, got '\(text)'")
        }
        return (String(host), port)
    }
}
