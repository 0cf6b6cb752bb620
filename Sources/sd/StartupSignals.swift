import Dispatch
import Foundation
import Logging

/// SIGTERM and SIGINT while `sd serve` starts (the model loading, before the socket is bound):
/// there is nothing to drain yet, so the process says so in the log and exits with status 0 at
/// once, as it does after a drain. Without this, a signal in that window took the default
/// action (killed by the signal, no log line), and that included the moment between binding and
/// ServiceLifecycle's own handlers. Once the server listens, `serving()` hands the signals over
/// to ServiceLifecycle's graceful shutdown (which registers its handlers before it starts the
/// server, so no signal falls between the two).
final class StartupSignals: @unchecked Sendable {
    private let lock = NSLock()
    private var listening = false
    private var sources: [any DispatchSourceSignal] = []

    /// Registers the handlers and returns once they are in place.
    init(logger: Logger) {
        for (number, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            #if canImport(Darwin)
            // kqueue delivers the signal only when the default action is off.
            signal(number, SIG_IGN)
            #endif
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                guard !lock.withLock({ listening }) else { return }
                logger.notice("\(name) received while starting (before listening); exiting")
                exit(0)
            }
            let registered = DispatchSemaphore(value: 0)
            source.setRegistrationHandler { registered.signal() }
            source.resume()
            registered.wait()
            sources.append(source)
        }
    }

    /// The server listens: from now on graceful shutdown handles the signals.
    func serving() {
        lock.withLock { listening = true }
    }
}
