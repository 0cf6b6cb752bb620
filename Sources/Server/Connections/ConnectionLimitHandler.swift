import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// One connection's side of the connection limit, in its channel pipeline right after HTTP
/// decoding. A connection the `ConnectionLimiter` serves passes through untouched. An overflow
/// connection (the limit was full when it arrived) gets one answer and is closed: `GET /health`
/// goes on to the router as usual; any other request is answered here with a 503 JSON error and
/// `Retry-After`, without reaching the router. An overflow connection is closed at
/// `overflowDeadline` unless it has sent a health check by then (which is then answered as any
/// request is, under the idle timeout).
final class ConnectionLimitHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        case served
        case awaitingRequest
        /// The health request is on its way to the router (`read` tells whether its end has
        /// arrived: anything after it, a pipelined second request, is dropped).
        case passingHealthCheck(read: Bool)
        case refusing
    }

    private let limiter: ConnectionLimiter
    private let overflowDeadline: TimeAmount
    private let retryAfterSeconds: Int
    private var state = State.served
    private var admission: ConnectionLimiter.Admission?
    private var deadline: Scheduled<Void>?

    init(limiter: ConnectionLimiter, overflowDeadline: TimeAmount, retryAfterSeconds: Int) {
        self.limiter = limiter
        self.overflowDeadline = overflowDeadline
        self.retryAfterSeconds = retryAfterSeconds
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Counted from the pipeline's creation to the channel's close, whichever handler removal
        // or error ends it.
        let admission = limiter.opened()
        self.admission = admission
        let limiter = self.limiter
        context.channel.closeFuture.whenComplete { _ in limiter.closed(admission) }
        guard admission == .overflow else { return }
        state = .awaitingRequest
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: overflowDeadline) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .served:
            context.fireChannelRead(data)
        case .passingHealthCheck(read: true):
            break
        case .passingHealthCheck(read: false):
            if case .end = unwrapInboundIn(data) { state = .passingHealthCheck(read: true) }
            context.fireChannelRead(data)
        case .refusing:
            // The rest of the refused request is read and dropped; closing with it unread would
            // make the kernel reset the connection and could lose the 503 on its way.
            if case .end = unwrapInboundIn(data) { context.close(promise: nil) }
        case .awaitingRequest:
            guard case .head(let request) = unwrapInboundIn(data) else { return }
            if request.method == .get, Self.isHealthCheck(request.path) {
                // A slow answer (a starved event loop) must not be cut at the deadline.
                deadline?.cancel()
                state = .passingHealthCheck(read: false)
                context.fireChannelRead(data)
            } else {
                state = .refusing
                refuse(context: context)
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .passingHealthCheck = state else {
            context.write(data, promise: promise)
            return
        }
        if case .head(var response) = unwrapOutboundIn(data) {
            response.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(response)), promise: promise)
            return
        }
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        // The health answer is complete: this overflow connection has had its one answer.
        let written = promise ?? context.eventLoop.makePromise()
        context.writeAndFlush(data, promise: written)
        written.futureResult.whenComplete { _ in context.close(promise: nil) }
    }

    /// Writes the 503 (the connection closes once the request's end has been read, or at the deadline).
    private func refuse(context: ChannelHandlerContext) {
        let error = ServerError.tooManyConnections(retryAfter: retryAfterSeconds)
        let body = ByteBuffer(bytes: JSONResponse.bytes(error.body))
        let head = HTTPResponse(
            status: error.status,
            headerFields: [
                .contentType: "application/json", .contentLength: String(body.readableBytes),
                .retryAfter: String(retryAfterSeconds), .connection: "close", .accessControlAllowOrigin: "*",
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    private static func isHealthCheck(_ path: String?) -> Bool {
        guard let path else { return false }
        return path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first == "/health"
    }
}
