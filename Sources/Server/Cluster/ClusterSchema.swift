import Logging
import PostgresNIO

/// The tables of cluster mode, created (or brought up to date) at start-up by whichever replica
/// gets there first: the migration holds an advisory lock, so replicas starting together do
/// not race on `CREATE TABLE`. `sd_schema` holds the version; each step runs once, in order.
///
/// - `sd_jobs`: one row per asynchronous job. `request` is the validated wire request as it
///   arrived (the body bytes and their content type, uploads included), so any replica can
///   prepare and run it; it is dropped when the job finishes. `lease_owner` / `attempts` are the
///   lease (and its fencing token: every claim adds one), `lease_expires_at` its expiry by the
///   database's clock. `result` is the synchronous answer's JSON, `error` OpenAI's error detail.
/// - `sd_files`: the pictures of cluster jobs, so every replica serves the files API for them.
enum ClusterSchema {
    static let version = 1

    /// Key of the advisory lock the migration holds (any fixed number; "sd" in ASCII).
    static let migrationLock = 0x7364_0001

    static let steps: [[PostgresQuery]] = [
        // Version 1.
        [
            """
            CREATE TABLE IF NOT EXISTS sd_jobs (
                id text PRIMARY KEY,
                seq bigserial NOT NULL,
                endpoint text NOT NULL,
                content_type text NOT NULL,
                request bytea,
                model text NOT NULL,
                state text NOT NULL CHECK (state IN ('queued', 'generating', 'completed', 'failed', 'cancelled')),
                created_at timestamptz NOT NULL DEFAULT now(),
                started_at timestamptz,
                leased_at timestamptz,
                finished_at timestamptz,
                lease_owner text,
                lease_expires_at timestamptz,
                attempts bigint NOT NULL DEFAULT 0,
                cancel_requested boolean NOT NULL DEFAULT false,
                progress jsonb,
                result jsonb,
                error jsonb
            )
            """,
            "CREATE INDEX IF NOT EXISTS sd_jobs_queued ON sd_jobs (seq) WHERE state = 'queued'",
            "CREATE INDEX IF NOT EXISTS sd_jobs_leases ON sd_jobs (lease_expires_at) WHERE state = 'generating'",
            "CREATE INDEX IF NOT EXISTS sd_jobs_finished ON sd_jobs (finished_at) WHERE finished_at IS NOT NULL",
            """
            CREATE TABLE IF NOT EXISTS sd_files (
                id text PRIMARY KEY,
                job_id text NOT NULL,
                filename text NOT NULL,
                bytes bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX IF NOT EXISTS sd_files_created ON sd_files (created_at)",
            "CREATE INDEX IF NOT EXISTS sd_files_job ON sd_files (job_id)",
        ]
    ]

    struct TooNew: Error, CustomStringConvertible {
        let found: Int
        var description: String {
            "the database's schema is version \(found), newer than this replica's \(ClusterSchema.version): upgrade this replica"
        }
    }

    /// Brings the schema to `version`.
    /// - Throws: database errors, or `TooNew` when a newer replica migrated the database.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS sd_schema (version bigint NOT NULL)", logger: logger)
            var current = 0
            for try await value in try await connection.query("SELECT coalesce(max(version), 0) FROM sd_schema", logger: logger).decode(Int.self) {
                current = value
            }
            guard current <= version else { throw TooNew(found: current) }
            for step in current..<version {
                for statement in steps[step] { try await connection.query(statement, logger: logger) }
                try await connection.query("INSERT INTO sd_schema (version) VALUES (\(step + 1))", logger: logger)
                logger.info("cluster database schema migrated to version \(step + 1)")
            }
        }
    }
}
