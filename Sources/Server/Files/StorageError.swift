import Foundation

/// Why the file store could not write a file: the system call, the path and `errno`. For the
/// log only (it names the path); clients get the `ServerError` it maps to, which does not.
struct StorageError: Error, Equatable, CustomStringConvertible {
    /// What the disk said, as far as the client and the HTTP status care.
    enum Kind: Equatable {
        /// ENOSPC or EDQUOT: the disk or the quota is full (507).
        case noSpace
        /// EACCES, EPERM or EROFS: the folder cannot be written at all (500).
        case notWritable
        /// Anything else (EIO, ...) (500).
        case other
    }

    /// The call that failed (`mkdir`, `open`, `write`, `fsync`, `close`, `rename`).
    let operation: String
    let path: String
    let code: Int32

    var kind: Kind {
        switch code {
        case ENOSPC, EDQUOT: .noSpace
        case EACCES, EPERM, EROFS: .notWritable
        default: .other
        }
    }

    var description: String { "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))" }

    /// What the client is told: no path, no errno.
    var serverError: ServerError {
        switch kind {
        case .noSpace: .insufficientStorage("the server has no space left to store the output file; try again later")
        case .notWritable: .internalError("could not store the output file: the server's output folder is not writable")
        case .other: .internalError("could not store the output file")
        }
    }
}
