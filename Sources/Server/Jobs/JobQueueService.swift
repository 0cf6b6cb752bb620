import ServiceLifecycle

/// Ties the job queue to graceful shutdown: on SIGTERM/SIGINT the queue stops taking jobs,
/// cancels the waiting ones and stops the running ones at their next step, before the HTTP
/// server drains its connections (so those requests are answered, not cut).
struct JobQueueService: Service {
    let queue: JobQueue

    func run() async throws {
        // Returns when graceful shutdown starts; throws if the task is cancelled instead.
        try? await gracefulShutdown()
        await queue.shutdown()
    }
}
