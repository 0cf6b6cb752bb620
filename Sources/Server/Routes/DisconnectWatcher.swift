import NIOCore

/// A pass-through handler put at the front of a connection's pipeline while a generation is
/// pending: the client closing its side (input closed; the server allows half-closure) or the
/// connection dropping calls `onDisconnect` once, so the job is cancelled instead of running on
/// for nobody. Removed when the answer is complete, so keep-alive connections carry on.
final class DisconnectWatcher: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    // Touched on the channel's event loop only.
    private var fired = false
    private let onDisconnect: @Sendable () -> Void

    private init(onDisconnect: @escaping @Sendable () -> Void) {
        self.onDisconnect = onDisconnect
    }

    /// Installs a watcher; nil when the channel is already gone (then `onDisconnect` has run).
    static func install(on channel: any Channel, onDisconnect: @escaping @Sendable () -> Void) async -> DisconnectWatcher? {
        let watcher = DisconnectWatcher(onDisconnect: onDisconnect)
        do {
            try await channel.pipeline.addHandler(watcher, position: .first).get()
        } catch {
            onDisconnect()
            return nil
        }
        // A close that came before the watcher was in place is only in the connection's state.
        let input = try? await channel.pipeline.handler(type: ConnectionInputState.self).get()
        channel.eventLoop.execute {
            if !channel.isActive || input?.isClosed == true { watcher.fire() }
        }
        return watcher
    }

    /// Takes the watcher out of the pipeline (a no-op when the channel has closed).
    func remove(from channel: any Channel) {
        channel.pipeline.removeHandler(self, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { fire() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fire()
        context.fireChannelInactive()
    }

    private func fire() {
        guard !fired else { return }
        fired = true
        onDisconnect()
    }
}

/// Kept for the whole connection (one per channel, from the HTTP server's set-up): whether the
/// client has closed its side. A `DisconnectWatcher` installed after that event passed would
/// otherwise never hear of it, and the generation would run on for nobody.
final class ConnectionInputState: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny

    // Touched on the channel's event loop only.
    private(set) var isClosed = false

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { isClosed = true }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        context.fireChannelInactive()
    }
}
