import Hummingbird
import NIOCore

/// The request context: Hummingbird's basics plus the connection's channel, which the image
/// routes watch for a client that goes away.
struct ServerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
