import Foundation

/// A read-only memory mapping of a whole file. Weight tensors point into it, so a model never
/// holds a second full copy of its weights; the mapping lives as long as any tensor view of it.
///
/// The readers check every tensor's bytes against the file's size when it is opened, so a file
/// that is already cut short is refused then. A file cut short *while* it is mapped cannot be
/// made safe: touching a page past its new end raises SIGBUS. The file stays open so that
/// `checkUnchanged()` can tell, before such a read, that it was truncated or rewritten.
public final class MappedFile: @unchecked Sendable {
    /// The path it was opened with (used in error messages).
    public let path: String
    /// The file's bytes.
    public let bytes: UnsafeRawBufferPointer
    /// The open file behind the mapping (-1 for an empty or in-memory file).
    private let descriptor: Int32
    /// The file's modification time when it was mapped.
    private let modified: timespec

    /// Maps `path` read-only.
    /// - Throws: `WeightError.cannotOpen` if the file cannot be opened or mapped, or is not a
    ///   regular file (a FIFO, device, socket or folder).
    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: a plain open of a FIFO waits for a writer, possibly forever; this way it
        // returns at once and fstat below refuses it. Regular files ignore the flag.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw WeightError.cannotOpen(file: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw WeightError.cannotOpen(file: path, reason: reason)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw WeightError.cannotOpen(file: path, reason: "not a regular file (\(Self.kind(mode: info.st_mode)))")
        }
        modified = Self.modificationTime(info)
        let size = Int(info.st_size)
        if size == 0 {
            close(fd)
            descriptor = -1
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            Self.recorder?.add(self)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            let reason = "mmap: " + String(cString: strerror(errno))
            close(fd)
            throw WeightError.cannotOpen(file: path, reason: reason)
        }
        descriptor = fd
        bytes = UnsafeRawBufferPointer(start: base, count: size)
        Self.recorder?.add(self)
    }

    /// Throws when the file behind the mapping is shorter than the mapping (a read of the
    /// missing part would raise SIGBUS) or was written since it was mapped (the pages not yet
    /// read would come from the new contents). One `fstat` of the open file: a file replaced
    /// by a rename is not this file and does not count.
    /// - Throws: `WeightError.changedOnDisk` naming the file.
    public func checkUnchanged() throws {
        guard descriptor >= 0 else { return }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw WeightError.changedOnDisk(file: path, reason: "fstat: " + String(cString: strerror(errno)))
        }
        let size = Int(info.st_size)
        if size < bytes.count {
            throw WeightError.changedOnDisk(file: path, reason: "truncated to \(size) bytes while \(bytes.count) were mapped")
        }
        let now = Self.modificationTime(info)
        if size != bytes.count || now.tv_sec != modified.tv_sec || now.tv_nsec != modified.tv_nsec {
            throw WeightError.changedOnDisk(file: path, reason: "written to since it was loaded")
        }
    }

    /// The files mapped while `body` runs on this thread (or task), those still alive at the end.
    /// A model records the files it was built from this way, to check them before each use.
    public static func recordingMapped<T>(_ body: () throws -> T) rethrows -> (value: T, files: [MappedFile]) {
        let recorder = Recorder()
        let value = try $recorder.withValue(recorder) { try body() }
        return (value, recorder.files)
    }

    @TaskLocal private static var recorder: Recorder?

    /// Weak references, so a file mapped only for a moment (a config file) is not kept open.
    private final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [WeakFile] = []
        private struct WeakFile { weak var file: MappedFile? }

        func add(_ file: MappedFile) { lock.withLock { entries.append(WeakFile(file: file)) } }
        var files: [MappedFile] { lock.withLock { entries.compactMap(\.file) } }
    }

    /// Wraps bytes already in memory (tests, in-memory files). The buffer is copied.
    public init(name: String, data: [UInt8]) {
        path = name
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(data.count, 1), alignment: 64)
        data.withUnsafeBytes { buffer.copyMemory(from: $0) }
        bytes = UnsafeRawBufferPointer(start: buffer.baseAddress, count: data.count)
        descriptor = -1
        modified = timespec()
        ownsHeapCopy = true
    }

    private var ownsHeapCopy = false

    private static func modificationTime(_ info: stat) -> timespec {
        #if canImport(Darwin)
        info.st_mtimespec
        #else
        info.st_mtim
        #endif
    }

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
        if descriptor >= 0 { close(descriptor) }
        guard let base = bytes.baseAddress else { return }
        if ownsHeapCopy {
            base.deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }
}
