/// Cluster mode (`sd serve --database-url`): several replicas share one job queue in PostgreSQL.
/// Without it (`ServerConfiguration.cluster == nil`) the server runs its embedded queue alone.
public struct ClusterConfiguration: Sendable {
    public var database: DatabaseURL
    /// This replica's name in the lease columns (unique per process: host name plus a UUID).
    public var replicaID: String
    /// How long a lease lasts unless renewed; a replica that dies holds its jobs this long
    /// before another takes them over.
    public var leaseDuration: Duration = .seconds(15)
    /// How often a running job's lease is renewed, its progress written and its cancel flag
    /// read (so also the bound on progress writes and on cancel latency).
    public var heartbeatInterval: Duration = .seconds(1)
    /// How often an idle replica looks for queued jobs.
    public var pollInterval: Duration = .milliseconds(500)
    /// Leases a job may be given (the first run included) before it fails.
    public var maxAttempts = 3
    /// Longest wait for one database call before a route answers 503 or a heartbeat counts
    /// as failed (the pool waits for a connection indefinitely while the database is down).
    public var requestTimeout: Duration = .seconds(5)
    /// Connections this replica keeps to the database at most.
    public var maxConnections = 10
    /// Finished jobs answer 410 from `jobTimeToLive` until this long after they finished; then
    /// their rows are deleted (404).
    public var finishedJobRetention: Duration = .seconds(24 * 3600)

    public init(database: DatabaseURL, replicaID: String) {
        self.database = database
        self.replicaID = replicaID
    }
}
