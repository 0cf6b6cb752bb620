import Foundation
import Tensor

/// Every tensor of a model under its canonical (LDM single-file) name, whichever file format it
/// came from, and a record of which tensors the model's layers have consumed.
///
/// Layers read weights through scoped `Weights` views. Once a model is built,
/// `checkAllConsumed(under:ignoring:)` turns any tensor nobody used into an error, so a checkpoint
/// that does not fit the model is never half-loaded silently.
public final class WeightIndex: @unchecked Sendable {
    /// What the tensors were loaded from (used in error messages).
    public let source: String
    /// Tensors by canonical name.
    public let tensors: [String: StoredTensor]
    /// Canonical names, sorted (prefix queries use binary search).
    public let names: [String]

    private let lock = NSLock()
    private var consumed: Set<String> = []

    /// An index over tensors already under canonical names.
    public init(source: String, tensors: [String: StoredTensor]) {
        self.source = source
        self.tensors = tensors
        self.names = tensors.keys.sorted()
    }

    /// The scoped view at `prefix` (`"model.diffusion_model"`, or "" for the root).
    public func weights(_ prefix: String = "") -> Weights { Weights(index: self, prefix: prefix.isEmpty ? "" : prefix + ".") }

    /// Names that start with `prefix`, in sorted order.
    public func names(withPrefix prefix: String) -> ArraySlice<String> {
        var lo = 0, hi = names.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if names[mid] < prefix { lo = mid + 1 } else { hi = mid }
        }
        var end = lo
        while end < names.count && names[end].hasPrefix(prefix) { end += 1 }
        return names[lo..<end]
    }

    func markConsumed(_ name: String) {
        lock.lock()
        consumed.insert(name)
        lock.unlock()
    }

    /// Tensors under `prefix` that no layer has read, except those under any of `ignoring`.
    public func unconsumed(under prefix: String = "", ignoring: [String] = []) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return names(withPrefix: prefix).filter { name in
            !consumed.contains(name) && !ignoring.contains { name.hasPrefix($0) || name.hasSuffix($0) }
        }
    }

    /// Throws if any tensor under `prefix` was not read by a layer (strict loading).
    /// - Parameter ignoring: prefixes or suffixes of tensors that are known and deliberately unused
    ///   (`model_ema.`, `.position_ids`, ...).
    /// - Throws: `WeightError.unusedTensors` listing them.
    public func checkAllConsumed(under prefix: String = "", ignoring: [String] = []) throws {
        let left = unconsumed(under: prefix, ignoring: ignoring)
        if !left.isEmpty { throw WeightError.unusedTensors(file: source, tensors: left) }
    }
}
