import Foundation
import Testing

@testable import Tensor

/// `MappedFile.checkUnchanged()`: a file truncated or written to after it was mapped is told
/// apart (before a read past its new end would raise SIGBUS); a file replaced by a rename is
/// another file and leaves the mapping as it was.
@Suite struct MappedFileChangeTests {
    /// A fresh file of `count` bytes in the temporary folder.
    func scratchFile(_ count: Int = 3 * 4096) throws -> String {
        let path = NSTemporaryDirectory() + "sd-mapped-\(UUID().uuidString).bin"
        try Data((0..<count).map { UInt8(truncatingIfNeeded: $0) }).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func anUntouchedFileIsUnchanged() throws {
        let path = try scratchFile()
        defer { unlink(path) }
        let file = try MappedFile(path: path)
        try file.checkUnchanged()
        #expect(file.bytes[5000] == UInt8(truncatingIfNeeded: 5000))
    }

    @Test func aTruncationAfterMappingIsCaught() throws {
        let path = try scratchFile()
        defer { unlink(path) }
        let file = try MappedFile(path: path)
        #expect(truncate(path, 4096) == 0)
        #expect(throws: WeightError.changedOnDisk(file: path, reason: "truncated to 4096 bytes while 12288 were mapped")) {
            try file.checkUnchanged()
        }
        // The first page is still inside the file and can be read; the rest would be SIGBUS.
        #expect(file.bytes[100] == 100)
    }

    @Test func aWriteInPlaceIsCaught() throws {
        let path = try scratchFile()
        defer { unlink(path) }
        let file = try MappedFile(path: path)
        // File times have the kernel's coarse clock: let it tick.
        Thread.sleep(forTimeInterval: 0.02)
        let fd = open(path, O_WRONLY)
        #expect(fd >= 0)
        #expect(pwrite(fd, [UInt8(9)], 1, 0) == 1)
        close(fd)
        #expect(throws: WeightError.changedOnDisk(file: path, reason: "written to since it was loaded")) { try file.checkUnchanged() }
    }

    @Test func aFileReplacedByRenameLeavesTheMappingAlone() throws {
        let path = try scratchFile()
        let replacement = try scratchFile(10)
        defer { unlink(path) }
        let file = try MappedFile(path: path)
        #expect(rename(replacement, path) == 0)
        try file.checkUnchanged()
        #expect(file.bytes.count == 3 * 4096 && file.bytes[12000] == UInt8(truncatingIfNeeded: 12000))
    }

    @Test func recordingKeepsOnlyTheFilesStillInUse() throws {
        let kept = try scratchFile(), dropped = try scratchFile()
        defer { unlink(kept); unlink(dropped) }
        let (file, recorded) = try MappedFile.recordingMapped { () throws -> MappedFile in
            _ = try MappedFile(path: dropped)
            return try MappedFile(path: kept)
        }
        #expect(recorded.map(\.path) == [kept] && recorded.first === file)
        // Outside the recording nothing is recorded.
        _ = try MappedFile(path: dropped)
        #expect(MappedFile.recordingMapped { 0 }.files.isEmpty)
    }
}
