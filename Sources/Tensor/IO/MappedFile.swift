import Foundation

/// A read-only memory mapping of a whole file. Weight tensors point into it, so a model never
/// holds a second full copy of its weights; the mapping lives as long as any tensor view of it.
public final class MappedFile: @unchecked Sendable {
    /// The path it was opened with (used in error messages).
    public let path: String
    /// The file's bytes.
    public let bytes: UnsafeRawBufferPointer

    /// Maps `path` read-only.
    /// - Throws: `WeightError.cannotOpen` if the file cannot be opened or mapped, or is not a
    ///   regular file (a FIFO, device, socket or folder).
    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: a plain open of a FIFO waits for a writer, possibly forever; this way it
        // returns at once and fstat below refuses it. Regular files ignore the flag.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw WeightError.cannotOpen(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw WeightError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw WeightError.cannotOpen(file: path, reason: "not a regular file (\(Self.kind(mode: info.st_mode)))")
        }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw WeightError.cannotOpen(file: path, reason: "mmap: " + String(cString: strerror(errno)))
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// Wraps bytes already in memory (tests, in-memory files). The buffer is copied.
    public init(name: String, data: [UInt8]) {
        path = name
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(data.count, 1), alignment: 64)
        data.withUnsafeBytes { buffer.copyMemory(from: $0) }
        bytes = UnsafeRawBufferPointer(start: buffer.baseAddress, count: data.count)
        ownsHeapCopy = true
    }

    private var ownsHeapCopy = false

    /// What a non-regular file is, for the error message.
    private static func kind(mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a FIFO"
        case S_IFDIR: "a folder"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "mode \(String(mode, radix: 8))"
        }
    }

    /// Drops the resident pages that lie wholly inside `range` (bytes of the file) from this
    /// process's memory, after their contents were copied elsewhere (a packed weight). The
    /// mapping stays valid: a later read faults the page back in from the file.
    public func releasePages(_ range: Range<Int>) {
        guard !ownsHeapCopy, let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + range.lowerBound + page - 1) / page * page
        let end = (Int(bitPattern: base) + range.upperBound) / page * page
        guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(pointer, end - start, MADV_DONTNEED)
    }

    deinit {
        guard let base = bytes.baseAddress else { return }
        if ownsHeapCopy {
            base.deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }
}
