import Foundation

/// A named pipe in a fresh temporary folder, for checking that readers refuse non-regular files
/// at once: a plain `open` of a FIFO waits for a writer, so a reader that forgets the check
/// hangs instead of failing.
public struct FIFOProbe {
    /// The FIFO's path.
    public let path: String
    /// The temporary folder it was made in (other files of a test may go there too).
    public let folder: String

    /// Makes a FIFO at `name` inside a fresh folder; `name` may hold subfolders, and its
    /// extension matters to readers that choose by it.
    public init(name: String = "weights.safetensors") throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("fifo-\(UUID().uuidString)").path
        path = folder + "/" + name
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard mkfifo(path, 0o600) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    /// Runs `work` on a thread of its own and returns the error it threw (nil if none), or
    /// `.blocked` when it had not returned after `seconds`; then the FIFO's write end is opened
    /// and closed once, which releases a reader stuck in `open` (it then reads end-of-file), so
    /// a failing test ends instead of hanging the suite.
    public func outcome(within seconds: Double = 10, _ work: @escaping @Sendable () throws -> Void) -> Outcome {
        let done = DispatchSemaphore(value: 0)
        let box = ErrorBox()
        Thread {
            do { try work() } catch { box.set(error) }
            done.signal()
        }.start()
        if done.wait(timeout: .now() + seconds) == .success { return .returned(box.error) }
        let writer = open(path, O_WRONLY | O_NONBLOCK)
        if writer >= 0 { close(writer) }
        _ = done.wait(timeout: .now() + seconds)
        return .blocked
    }

    /// Removes the FIFO and its folder.
    public func remove() { try? FileManager.default.removeItem(atPath: folder) }

    /// What `outcome(within:_:)` saw.
    public enum Outcome {
        case returned((any Error)?)
        case blocked

        /// The error thrown, or nil when the work blocked or succeeded.
        public var error: (any Error)? {
            if case .returned(let error) = self { return error }
            return nil
        }
    }

    private final class ErrorBox: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: (any Error)?
        func set(_ error: any Error) { lock.withLock { stored = error } }
        var error: (any Error)? { lock.withLock { stored } }
    }
}
