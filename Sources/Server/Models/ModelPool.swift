import Foundation
import Logging

/// The models a server runs, loaded on first use and kept under a budget: at most `maxLoaded` at
/// once and, when set, at most `memoryBudget` bytes of weights (reckoned from their files), the
/// least recently used idle model unloaded first. A model is loaded once however many requests
/// ask for it meanwhile (they wait for that load), and never unloaded while a generation uses it.
///
/// Calls block (loading maps and checks the weights): the job queue calls it from its worker
/// threads, never from the event loops.
public final class ModelPool: @unchecked Sendable {
    public typealias Loader = @Sendable (ModelSource) throws -> any ImageGenerating

    /// A model as `/v1/models` and `/health` show it.
    public struct Status: Sendable, Equatable {
        public var name: String
        public var loaded: Bool
        public var isDefault: Bool
    }

    /// The model of requests that name none.
    public let defaultName: String
    private let sources: [String: ModelSource]
    private let order: [String]
    private let maxLoaded: Int
    private let memoryBudget: Int64?
    private let loader: Loader
    private let logger: Logger

    private enum Slot {
        case unloaded
        case loading
        case loaded(any ImageGenerating)
    }

    private let condition = NSCondition()
    private var slots: [String: Slot] = [:]
    private var users: [String: Int] = [:]
    private var lastUse: [String: UInt64] = [:]
    private var clock: UInt64 = 0

    /// - Parameters:
    ///   - defaultModel: the model of requests without `model`; `preloaded` is it, already loaded.
    ///   - others: further models (`--model-dir`), loaded on first use.
    /// - Precondition: names are unique.
    public init(
        defaultModel: ModelSource, preloaded: (any ImageGenerating)?, others: [ModelSource] = [], maxLoaded: Int = 1,
        memoryBudget: Int64? = nil, logger: Logger = Logger(label: "sd.models"), loader: @escaping Loader
    ) {
        let all = [defaultModel] + others.filter { $0.name != defaultModel.name }
        defaultName = defaultModel.name
        sources = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
        order = all.map(\.name)
        self.maxLoaded = max(1, maxLoaded)
        self.memoryBudget = memoryBudget
        self.loader = loader
        self.logger = logger
        for name in order { slots[name] = .unloaded }
        if let preloaded {
            slots[defaultName] = .loaded(preloaded)
            lastUse[defaultName] = 0
        }
    }

    /// One already loaded model and nothing else.
    public convenience init(single generator: any ImageGenerating, name: String) {
        self.init(defaultModel: ModelSource(name: name, path: nil), preloaded: generator) { _ in generator }
    }

    /// The model a request's `model` field names: absent, empty or the default's name is the
    /// default model.
    /// - Throws: `ServerError.unknownModel` (404, param `model`).
    public func resolve(_ requested: String?) throws -> String {
        guard let requested, !requested.isEmpty else { return defaultName }
        guard sources[requested] != nil else { throw ServerError.unknownModel(requested) }
        return requested
    }

    /// Where model `name`'s weights are; nil for a name the pool does not have.
    public func source(named name: String) -> ModelSource? { sources[name] }

    /// Every model, default first, with whether it is loaded now.
    public var statuses: [Status] {
        condition.lock()
        defer { condition.unlock() }
        return order.map { name in
            if case .loaded = slots[name] { Status(name: name, loaded: true, isDefault: name == defaultName) } else {
                Status(name: name, loaded: false, isDefault: name == defaultName)
            }
        }
    }

    /// Runs `body` with model `name` loaded (loading it first if needed), which stays loaded
    /// until `body` returns.
    /// - Throws: `ServerError.internalError` naming the model when it fails to load (the model
    ///   stays unloaded and a later request tries again; the log has the loader's error, which
    ///   names files the client has no business seeing), or `body`'s error.
    public func withModel<T>(_ name: String, _ body: (any ImageGenerating) throws -> T) throws -> T {
        let generator = try acquire(name)
        defer { release(name) }
        return try body(generator)
    }

    private func acquire(_ name: String) throws -> any ImageGenerating {
        guard let source = sources[name] else { throw ServerError.unknownModel(name) }
        condition.lock()
        while case .loading = slots[name] { condition.wait() }
        if case .loaded(let generator) = slots[name] {
            do {
                // One fstat per file. A model whose file was truncated would raise SIGBUS when
                // it reads past the new end: it is loaded again instead, which checks the file
                // against its header (and refuses a cut one, naming file and tensor).
                try generator.checkWeights()
                markUsed(name)
                condition.unlock()
                return generator
            } catch {
                logger.error("model \(name) is loaded again: \(error)")
                slots[name] = .unloaded
            }
        }
        slots[name] = .loading
        // Room first, so the peak never holds the model being dropped and the one coming in.
        evictIdle(toFit: source.estimatedBytes, except: name)
        condition.unlock()

        let started = Date()
        let loaded: any ImageGenerating
        do {
            loaded = try loader(source)
            // A loader that hands back a model it already had gets it checked here.
            try loaded.checkWeights()
        } catch {
            condition.lock()
            slots[name] = .unloaded
            condition.broadcast()
            condition.unlock()
            logger.error("model \(name) failed to load: \(error)")
            throw ServerError.internalError("the model '\(name)' could not be loaded (the server log says why)")
        }
        logger.info("model \(name) loaded in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        condition.lock()
        slots[name] = .loaded(loaded)
        markUsed(name)
        condition.broadcast()
        condition.unlock()
        return loaded
    }

    private func release(_ name: String) {
        condition.lock()
        users[name, default: 1] -= 1
        condition.unlock()
    }

    /// Call with the lock held.
    private func markUsed(_ name: String) {
        clock += 1
        lastUse[name] = clock
        users[name, default: 0] += 1
    }

    /// Unloads the least recently used idle models until one more of `bytes` fits the count and
    /// memory budgets (or no idle model is left: models in use are never dropped). Lock held.
    private func evictIdle(toFit bytes: Int64, except keep: String) {
        func loadedNames() -> [String] {
            order.filter { name in
                if case .loaded = slots[name] { true } else { false }
            }
        }
        while true {
            let loaded = loadedNames()
            let usedBytes = loaded.reduce(Int64(0)) { $0 + (sources[$1]?.estimatedBytes ?? 0) }
            let overCount = loaded.count + 1 > maxLoaded
            let overMemory = memoryBudget.map { usedBytes + bytes > $0 } ?? false
            guard overCount || overMemory else { return }
            let idle = loaded.filter { $0 != keep && users[$0, default: 0] == 0 }
            guard let victim = idle.min(by: { lastUse[$0, default: 0] < lastUse[$1, default: 0] }) else {
                logger.warning("model budget exceeded: every loaded model is in use")
                return
            }
            slots[victim] = .unloaded
            logger.info("model \(victim) unloaded (least recently used)")
        }
    }
}
