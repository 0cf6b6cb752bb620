import Diffusion
import Foundation
import Hummingbird
import Logging
import NIOCore

/// What every route needs: the configuration, the queue, the file store and the model facts.
struct ServerState: Sendable {
    let configuration: ServerConfiguration
    let queue: JobQueue
    let store: FileStore
    let renderer: ImageResponseRenderer
    let models: ModelPool
    let logger: Logger
    /// Cluster mode's shared queue and files (`--database-url`); nil on a single host.
    var cluster: ClusterJobs? = nil

    /// The request-to-options mapping context.
    var mappingContext: ImageRequest.Context {
        ImageRequest.Context(
            limits: configuration.limits, maxUploadPixels: configuration.maxUploadPixels,
            storedFile: { [store] id in try? store.contents(id).bytes })
    }
}
