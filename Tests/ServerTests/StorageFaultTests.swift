import Foundation
import Glibc
@testable import Server
import Testing

/// A full or unwritable files folder, for real: a tmpfs of 64 KiB filled to the last page (disk
/// full, ENOSPC), a read-only tmpfs (EROFS), an immutable folder (`chattr +i`, EPERM) and, when
/// not run as root (root ignores permission bits), a folder without write permission (EACCES).
/// The mounts need CAP_SYS_ADMIN; where mounting is refused those tests are skipped, saying so.
@Suite struct StorageFaultTests {
    // MARK: - Mapping

    @Test func errnoDecidesStatusAndMessageWithoutPath() {
        let path = "/srv/secret/out/file_x/.output.png.partial"
        for code in [ENOSPC, EDQUOT] {
            let error = ServerError(StorageError(operation: "write", path: path, code: code))
            #expect(error.status.code == 507 && error.body.error.type == "server_error" && error.body.error.code == "insufficient_storage")
            #expect(error.description.contains("no space") && !error.description.contains("/"), "\(error)")
        }
        for code in [EACCES, EPERM, EROFS] {
            let error = ServerError(StorageError(operation: "open", path: path, code: code))
            #expect(error.status.code == 500 && error.body.error.type == "server_error")
            #expect(error.description.contains("not writable") && !error.description.contains("/"), "\(error)")
        }
        let other = ServerError(StorageError(operation: "fsync", path: path, code: EIO))
        #expect(other == .internalError("could not store the output file"))
        // The log line has what the client is not told.
        #expect(StorageError(operation: "write", path: path, code: ENOSPC).description.contains(path))
    }

    // MARK: - Disk full

    @Test(.enabled(if: Scratch.canMount, Scratch.cannotMountReason))
    func fullDiskIs507LeavesNothingAndTheServerRecovers() async throws {
        let disk = try #require(Scratch.tmpfs())
        defer { disk.remove() }
        let filler = try disk.fill()
        var configuration = testConfiguration()
        configuration.outputDirectory = disk.path + "/out"
        let out = configuration.outputDirectory
        try await withServer(configuration, generator: FakeGenerator()) { client in
            let full = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#)
            #expect(full.status.code == 507, "\(full.text)")
            let error = try #require(full.error)
            #expect(error.type == "server_error" && error.code == "insufficient_storage" && !error.message.contains(disk.path), "\(full.text)")
            #expect(Scratch.entries(out).isEmpty)
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            // Space back: the next generation is stored.
            #expect(unlink(filler) == 0)
            let ok = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#)
            #expect(ok.status == .ok, "\(ok.text)")
            #expect(Scratch.entries(out).count == 1)
        }
    }

    /// One page left: the first picture of n = 2 fits, the second does not; the first is removed
    /// again, for the synchronous and the asynchronous API.
    @Test(.enabled(if: Scratch.canMount, Scratch.cannotMountReason))
    func aLaterPictureThatDoesNotFitTakesTheEarlierOnesWithIt() async throws {
        let disk = try #require(Scratch.tmpfs())
        defer { disk.remove() }
        let filler = try disk.fill(leavingPages: 1)
        var configuration = testConfiguration()
        configuration.outputDirectory = disk.path + "/out"
        let out = configuration.outputDirectory
        try await withServer(configuration, generator: FakeGenerator()) { client in
            let sync = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1, "n": 2}"#)
            #expect(sync.status.code == 507, "\(sync.text)")
            #expect(Scratch.entries(out).isEmpty)

            let accepted = try await client.postJSON("/v1/images/generations/jobs", #"{"prompt": "x", "steps": 1, "n": 2}"#)
            let job = try accepted.decode(JobStatusResponse.self)
            var status = job
            #expect(try await eventually {
                status = try await client.execute(uri: "/v1/images/jobs/\(job.id)", method: .get).decode(JobStatusResponse.self)
                return status.status != "queued" && status.status != "generating"
            })
            #expect(status.status == "failed" && status.error?.code == "insufficient_storage" && status.result == nil, "\(status)")
            #expect(Scratch.entries(out).isEmpty)

            // The single page still takes one picture.
            #expect(try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#).status == .ok)
            #expect(unlink(filler) == 0)
            #expect(try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1, "n": 2}"#).status == .ok)
            #expect(Scratch.entries(out).count == 3)
        }
    }

    @Test(.enabled(if: Scratch.canMount, Scratch.cannotMountReason))
    func storeLeavesNoTemporaryFileOnAFullDisk() throws {
        let disk = try #require(Scratch.tmpfs())
        defer { disk.remove() }
        let store = try FileStore(directory: disk.path + "/out", timeToLive: nil)
        _ = try disk.fill(leavingPages: 1)
        // Two pages' worth: the temporary file gets one page, then the disk is full.
        do {
            _ = try store.save([UInt8](repeating: 7, count: 8192), name: "output.png")
            Issue.record("two pages were stored in one")
        } catch let error as StorageError {
            #expect(error.kind == .noSpace && error.operation == "write" && error.path.hasSuffix("/.output.png.partial"), "\(error)")
        }
        #expect(Scratch.entries(store.root.path).isEmpty)
        #expect(store.list().isEmpty)
    }

    // MARK: - Not writable

    @Test(.enabled(if: Scratch.canMount, Scratch.cannotMountReason))
    func readOnlyFolderIs500AndTheServerRecoversWhenItIsWritableAgain() async throws {
        let disk = try #require(Scratch.tmpfs(readOnly: true))
        defer { disk.remove() }
        var configuration = testConfiguration()
        configuration.outputDirectory = disk.path
        try await withServer(configuration, generator: FakeGenerator()) { client in
            let refused = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#)
            #expect(refused.status == .internalServerError, "\(refused.text)")
            let error = try #require(refused.error)
            #expect(error.type == "server_error" && error.message.contains("not writable") && !error.message.contains(disk.path), "\(refused.text)")
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            #expect(disk.remount(readOnly: false) == 0)
            #expect(try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#).status == .ok)
            #expect(Scratch.entries(disk.path).count == 1)
        }
    }

    @Test(.enabled(if: Scratch.canChattr, "needs chattr and a file system that takes the immutable flag"))
    func immutableFolderIs500() async throws {
        var configuration = testConfiguration()
        let folder = configuration.outputDirectory
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        #expect(Scratch.chattr("+i", folder))
        defer { _ = Scratch.chattr("-i", folder) }
        configuration.outputDirectory = folder
        try await withServer(configuration, generator: FakeGenerator()) { client in
            let refused = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#)
            #expect(refused.status == .internalServerError && refused.error?.message.contains("not writable") == true, "\(refused.text)")
            #expect(Scratch.entries(folder).isEmpty)
            #expect(Scratch.chattr("-i", folder))
            #expect(try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#).status == .ok)
        }
    }

    @Test(.enabled(if: geteuid() != 0, "root ignores permission bits (the read-only and immutable cases cover root)"))
    func folderWithoutWritePermissionIs500() async throws {
        let configuration = testConfiguration()
        let folder = configuration.outputDirectory
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        #expect(chmod(folder, 0o555) == 0)
        defer { chmod(folder, 0o755) }
        try await withServer(configuration, generator: FakeGenerator()) { client in
            let refused = try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#)
            #expect(refused.status == .internalServerError && refused.error?.message.contains("not writable") == true, "\(refused.text)")
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            #expect(chmod(folder, 0o755) == 0)
            #expect(try await client.postJSON("/v1/images/generations", #"{"prompt": "x", "steps": 1}"#).status == .ok)
        }
    }
}

/// Small file systems for the fault tests.
enum Scratch {
    /// A mounted tmpfs; `remove()` unmounts it and deletes the mount point.
    struct Disk {
        let path: String

        /// Fills the disk with one file up to the last `leavingPages` pages; returns its path.
        func fill(leavingPages pages: Int = 0) throws -> String {
            let filler = path + "/filler"
            let fd = open(filler, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            defer { close(fd) }
            let page = [UInt8](repeating: 1, count: 4096)
            var size = 0
            while true {
                let n = page.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                size += n
            }
            // Every page was allocated in whole; giving back `pages` of them leaves that much room.
            ftruncate(fd, off_t(max(0, size / 4096 - pages) * 4096))
            return filler
        }

        /// Remounts read-only or read-write; 0 or errno.
        func remount(readOnly: Bool) -> Int32 {
            let flags = UInt(MS_REMOUNT) | (readOnly ? UInt(MS_RDONLY) : 0)
            return mount("tmpfs", path, "tmpfs", flags, "size=64k") == 0 ? 0 : errno
        }

        func remove() {
            umount2(path, Int32(MNT_DETACH))
            rmdir(path)
        }
    }

    /// A 64 KiB tmpfs on a fresh mount point, or nil when mounting is refused.
    static func tmpfs(readOnly: Bool = false) -> Disk? {
        let path = NSTemporaryDirectory() + "sd-fault-\(UUID().uuidString)"
        guard mkdir(path, 0o755) == 0 else { return nil }
        guard mount("tmpfs", path, "tmpfs", readOnly ? UInt(MS_RDONLY) : 0, "size=64k") == 0 else {
            rmdir(path)
            return nil
        }
        return Disk(path: path)
    }

    /// Whether this process may mount (CAP_SYS_ADMIN), tried once with a real tmpfs.
    static let canMount: Bool = {
        guard let disk = tmpfs() else { return false }
        disk.remove()
        return true
    }()

    static let cannotMountReason: Comment = "mounting a tmpfs is not permitted here (needs CAP_SYS_ADMIN)"

    /// Whether `chattr +i` works on a folder in the temporary directory.
    static let canChattr: Bool = {
        let folder = NSTemporaryDirectory() + "sd-chattr-\(UUID().uuidString)"
        guard mkdir(folder, 0o755) == 0 else { return false }
        defer { rmdir(folder) }
        guard chattr("+i", folder) else { return false }
        return chattr("-i", folder)
    }()

    /// Runs `chattr FLAG PATH`; true when it succeeded.
    @discardableResult
    static func chattr(_ flag: String, _ path: String) -> Bool {
        let candidates = ["/usr/bin/chattr", "/bin/chattr", "/usr/sbin/chattr", "/sbin/chattr"]
        guard let tool = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return false }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = [flag, path]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// What a folder holds (hidden names included), recursively: folders as "a/", files as "a/b".
    static func entries(_ folder: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.filter { $0 != "filler" }.sorted().flatMap { name -> [String] in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder + "/" + name, isDirectory: &isDirectory), isDirectory.boolValue else { return [name] }
            let inside = entries(folder + "/" + name)
            return inside.isEmpty ? [name + "/"] : inside.map { name + "/" + $0 }
        }
    }
}
