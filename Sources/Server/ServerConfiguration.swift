import Diffusion
import Foundation
import Logging

/// Everything `sd serve` can set: where to listen, sd-api-server's options, and our limits.
public struct ServerConfiguration: Sendable {
    /// Address to bind (IPv4 or IPv6 literal, or a host name).
    public var host = "0.0.0.0"
    /// Port to bind; 0 picks a free one (tests).
    public var port = 8080
    /// Base of the image URLs returned; nil derives it from the bound address (sd-api-server).
    public var downloadURLPrefix: String?
    /// When set, every endpoint but `/health` needs `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// The `-m/--model-name` label; nil uses the model's own name.
    public var modelName: String?
    /// Which image routes are served.
    public var task: ServerTask = .full
    /// sd-api-server's `--lora-model-dir`: listed by `GET /v1/loras` (each pipeline holds its
    /// `LoRALibrary`).
    public var loraModelDirectory: String?
    /// Whether `GET /` serves the web page (`sd serve --no-web-page` turns it off).
    public var servesWebPage = true
    /// The textual-inversion folder (`--embedding-dir`): listed by `GET /v1/embeddings`.
    public var embeddingDirectory: String?
    /// sd-api-server's `--control-net`: the ControlNet file the models were loaded with (for logs;
    /// each pipeline holds its own).
    public var controlNet: String?
    /// Folder of generated files: `<outputDirectory>/file_<uuid>/<name>` (sd-api-server's `archives`).
    public var outputDirectory = "archives"
    /// Generated files are deleted this long after they were written; nil keeps them.
    public var fileTimeToLive: Duration? = .seconds(24 * 3600)
    /// How often expired files are looked for.
    public var fileSweepInterval: Duration = .seconds(60)
    /// Jobs waiting to run (running ones not counted); one more is answered 429.
    public var maxQueueLength = 16
    /// Generations running at once (one per model; more only helps with spare cores).
    public var maxConcurrentJobs = 1
    /// How long a finished job stays pollable before it answers 410.
    public var jobTimeToLive: Duration = .seconds(600)
    /// Seconds a 429 suggests waiting (`Retry-After`).
    public var retryAfterSeconds = 5
    /// Largest accepted width, height, step count and `n`.
    public var limits = GenerationOptions.Limits()
    /// Largest request body in bytes (uploads included); larger is answered 413.
    public var maxBodySize = 32 << 20
    /// Largest decoded upload in pixels.
    public var maxUploadPixels = 4096 * 4096
    /// Log level of the server's logger.
    public var logLevel: Logger.Level = .info
    /// A connection with no request in progress that sends nothing for this long is closed:
    /// idle keep-alive connections, and request heads sent too slowly or never finished. A
    /// request being answered (a long generation, an event stream) is never cut. nil: never.
    public var idleTimeout: Duration? = .seconds(60)
    /// Connections served at once. Past it a new connection gets one answer and is closed:
    /// `GET /health` normally, anything else 503 with `Retry-After` (see `ConnectionLimiter`).
    public var maxConnections = 512
    /// How many such one-answer connections may be open beyond `maxConnections`; past both,
    /// new connections wait in the kernel's backlog until some close.
    public var connectionHeadroom = 64
    /// How long a one-answer connection stays open unless it sends a health check (a refused
    /// request has had its 503 by then).
    public var overflowDeadline: Duration = .seconds(1)

    /// Cluster mode (`--database-url`): asynchronous jobs and their files shared through
    /// PostgreSQL by every replica; nil runs the embedded queue alone.
    public var cluster: ClusterConfiguration?

    public init() {}

    /// The URL prefix that image URLs start with.
    public var resolvedDownloadURLPrefix: String {
        if let prefix = downloadURLPrefix { return prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix }
        let shownHost: String
        switch host {
        case "0.0.0.0", "::", "": shownHost = "localhost"
        default: shownHost = host.contains(":") ? "[\(host)]" : host
        }
        return "http://\(shownHost):\(port)"
    }
}
