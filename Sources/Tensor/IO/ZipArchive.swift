// The parts of the zip format (PKWARE APPNOTE.TXT 6.3) that `torch.save` writes. Little-endian:
//
//   local header        u32 0x04034b50, u16 version, u16 flags, u16 method, u16 time, u16 date,
//                       u32 crc, u32 compressed size, u32 size, u16 name length, u16 extra length,
//                       name, extra, then the entry's bytes
//   ...
//   central directory   per entry: u32 0x02014b50, u16 made by, u16 version, u16 flags,
//                       u16 method, u16 time, u16 date, u32 crc, u32 compressed size, u32 size,
//                       u16 name length, u16 extra length, u16 comment length, u16 first disk,
//                       u16 internal attributes, u32 external attributes, u32 local header offset,
//                       name, extra, comment
//   zip64 end record    u32 0x06064b50, u64 record size, u16 made by, u16 version, u32 disk,
//                       u32 directory disk, u64 entries on disk, u64 entries, u64 directory size,
//                       u64 directory offset (optional)
//   zip64 locator       u32 0x07064b50, u32 disk, u64 zip64 end record offset, u32 disks (optional)
//   end record          u32 0x06054b50, u16 disk, u16 directory disk, u16 entries on disk,
//                       u16 entries, u32 directory size, u32 directory offset, u16 comment length,
//                       comment
//
// A 32-bit field that does not fit is written as all ones, and the real value is in the zip64
// end record (directory fields) or in the entry's zip64 extra field (id 0x0001: u64 size, u64
// compressed size, u64 local header offset, u32 disk, each present only when its 32-bit field
// is all ones, in that order). PyTorch writes the zip64 end record and locator in every file
// and pads each local header's extra field so that the entry's bytes start 64-byte aligned.
//
// Only the central directory is parsed when the archive is opened; entries are read in place,
// so only stored (method 0), unencrypted entries are readable. CRCs are not checked: that
// would read every byte of a multi-gigabyte checkpoint up front, which the memory mapping
// exists to avoid. Every offset and size is checked against the file's size before use.

/// The central directory of a zip file in a `MappedFile`, with its stored entries readable in
/// place (no copy).
public struct ZipArchive: Sendable {
    /// One entry of the central directory.
    public struct Entry: Sendable, Equatable {
        /// The entry's path inside the archive.
        public let name: String
        /// The compression method (0 = stored, 8 = deflate).
        public let method: UInt16
        /// General purpose flags (bit 0: encrypted).
        public let flags: UInt16
        /// Bytes the entry takes in the file.
        public let compressedSize: Int
        /// Bytes of the entry's contents.
        public let size: Int
        /// File offset of the entry's local header.
        public let localHeaderOffset: Int
    }

    /// The mapping the entries point into.
    public let file: MappedFile
    /// Entries in central-directory order.
    public let entries: [Entry]
    /// Entry indices by name.
    private let indexByName: [String: Int]

    /// The zip local header's first four bytes, `PK\3\4`, as a little-endian u32.
    public static let localHeaderSignature: UInt32 = 0x0403_4b50
    private static let centralHeaderSignature: UInt32 = 0x0201_4b50
    private static let endSignature: UInt32 = 0x0605_4b50
    private static let zip64EndSignature: UInt32 = 0x0606_4b50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    /// Fixed part of the end record; a comment of up to 65535 bytes may follow it.
    private static let endRecordBytes = 22
    private static let centralHeaderBytes = 46
    private static let localHeaderBytes = 30

    /// Whether `bytes` starts like a zip file (a local header).
    public static func hasSignature(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes.loadUnaligned(as: UInt32.self).littleEndian == localHeaderSignature
    }

    /// Reads the central directory of `file`.
    /// - Throws: `WeightError.badMagic` when no end record is found, `.truncated` or
    ///   `.badHeader` naming the file for a directory that does not fit the file or is malformed,
    ///   `.badHeader` for a multi-disk archive or duplicate entry names.
    public init(file: MappedFile) throws {
        self.file = file
        let name = file.path
        let bytes = file.bytes
        let end = try Self.findEndRecord(bytes, file: name)
        var cursor = ByteCursor(bytes: bytes, file: name, offset: end + 4)
        let disk = try cursor.read(UInt16.self)
        let directoryDisk = try cursor.read(UInt16.self)
        _ = try cursor.read(UInt16.self)
        var entryCount = UInt64(try cursor.read(UInt16.self))
        var directorySize = UInt64(try cursor.read(UInt32.self))
        var directoryOffset = UInt64(try cursor.read(UInt32.self))
        guard disk == 0, directoryDisk == 0 else {
            throw WeightError.badHeader(file: name, reason: "a multi-disk zip archive (disk \(disk))")
        }

        // The zip64 locator sits right before the end record when there is one.
        if end >= 20, bytes.loadUnaligned(fromByteOffset: end - 20, as: UInt32.self).littleEndian == Self.zip64LocatorSignature {
            var locator = ByteCursor(bytes: bytes, file: name, offset: end - 12)
            let recordOffset = try locator.read(UInt64.self)
            guard recordOffset <= UInt64(end - 20) else {
                throw WeightError.badHeader(file: name, reason: "zip64 end record offset \(recordOffset) is outside the file")
            }
            // The record must end before the locator.
            var record = ByteCursor(
                bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<(end - 20)]), file: name, offset: Int(recordOffset))
            guard try record.read(UInt32.self) == Self.zip64EndSignature else {
                throw WeightError.badHeader(file: name, reason: "no zip64 end record at byte \(recordOffset)")
            }
            _ = try record.read(UInt64.self)  // record size
            _ = try record.read(UInt16.self)  // made by
            _ = try record.read(UInt16.self)  // version needed
            let disk64 = try record.read(UInt32.self)
            let directoryDisk64 = try record.read(UInt32.self)
            guard disk64 == 0, directoryDisk64 == 0 else {
                throw WeightError.badHeader(file: name, reason: "a multi-disk zip archive (disk \(disk64))")
            }
            _ = try record.read(UInt64.self)  // entries on this disk
            entryCount = try record.read(UInt64.self)
            directorySize = try record.read(UInt64.self)
            directoryOffset = try record.read(UInt64.self)
        }

        let (directoryEnd, overflow) = directoryOffset.addingReportingOverflow(directorySize)
        guard !overflow, directoryEnd <= UInt64(end) else {
            throw WeightError.badHeader(
                file: name,
                reason: "central directory [\(directoryOffset), +\(directorySize)) does not fit before the end record at byte \(end)")
        }
        var directory = ByteCursor(
            bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<Int(directoryEnd)]), file: name, offset: Int(directoryOffset))
        let count = try directory.checkCount(entryCount, minimumBytes: Self.centralHeaderBytes)
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var indexByName: [String: Int] = [:]
        for _ in 0..<count {
            let entry = try Self.readCentralHeader(&directory, fileSize: bytes.count)
            guard indexByName.updateValue(entries.count, forKey: entry.name) == nil else {
                throw WeightError.badHeader(file: name, reason: "zip entry '\(entry.name)' appears twice")
            }
            entries.append(entry)
        }
        self.entries = entries
        self.indexByName = indexByName
    }

    /// The entry called `name`, if any.
    public func entry(_ name: String) -> Entry? {
        indexByName[name].map { entries[$0] }
    }

    /// The bytes of a stored entry, in place in the mapping.
    /// - Throws: `WeightError.badHeader` naming the file and entry when it is compressed or
    ///   encrypted or its local header is missing or disagrees with the directory;
    ///   `.truncated` when its bytes run past the end of the file.
    public func contents(of entry: Entry) throws -> UnsafeRawBufferPointer {
        let name = file.path
        guard entry.method == 0 else {
            throw WeightError.badHeader(
                file: name,
                reason: "zip entry '\(entry.name)' is compressed (method \(entry.method)); only stored entries are read"
                    + " (torch.save writes them stored)")
        }
        guard entry.flags & 1 == 0 else {
            throw WeightError.badHeader(file: name, reason: "zip entry '\(entry.name)' is encrypted")
        }
        guard entry.compressedSize == entry.size else {
            throw WeightError.badHeader(
                file: name,
                reason: "stored zip entry '\(entry.name)' has \(entry.compressedSize) bytes in the file for \(entry.size) of contents")
        }
        var local = ByteCursor(bytes: file.bytes, file: name, offset: entry.localHeaderOffset)
        guard try local.read(UInt32.self) == Self.localHeaderSignature else {
            throw WeightError.badHeader(
                file: name, reason: "zip entry '\(entry.name)': no local header at byte \(entry.localHeaderOffset)")
        }
        _ = try local.readBytes(22)  // version, flags, method, time, date, crc, sizes
        let nameLength = Int(try local.read(UInt16.self))
        let extraLength = Int(try local.read(UInt16.self))
        let localName = try local.readBytes(nameLength)
        guard localName.elementsEqual(entry.name.utf8) else {
            throw WeightError.badHeader(
                file: name, reason: "zip entry '\(entry.name)': its local header names another entry")
        }
        _ = try local.readBytes(extraLength)
        return try local.readBytes(entry.size)
    }

    // MARK: - Directory

    /// The offset of the end record: the last signature found in the final 22 + 65535 bytes
    /// whose comment length reaches exactly the end of the file.
    private static func findEndRecord(_ bytes: UnsafeRawBufferPointer, file: String) throws -> Int {
        guard bytes.count >= endRecordBytes else {
            throw WeightError.truncated(file: file, expectedBytes: endRecordBytes, actualBytes: bytes.count)
        }
        let last = bytes.count - endRecordBytes
        let first = max(0, last - 0xFFFF)
        for offset in stride(from: last, through: first, by: -1)
        where bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian == endSignature {
            let commentLength = Int(bytes.loadUnaligned(fromByteOffset: offset + 20, as: UInt16.self).littleEndian)
            if offset + endRecordBytes + commentLength == bytes.count { return offset }
        }
        throw WeightError.badHeader(file: file, reason: "no zip end-of-central-directory record (truncated?)")
    }

    private static func readCentralHeader(_ cursor: inout ByteCursor, fileSize: Int) throws -> Entry {
        let file = cursor.file
        let at = cursor.offset
        guard try cursor.read(UInt32.self) == centralHeaderSignature else {
            throw WeightError.badHeader(file: file, reason: "no zip central directory header at byte \(at)")
        }
        _ = try cursor.read(UInt16.self)  // made by
        _ = try cursor.read(UInt16.self)  // version needed
        let flags = try cursor.read(UInt16.self)
        let method = try cursor.read(UInt16.self)
        _ = try cursor.readBytes(8)  // time, date, crc
        var compressedSize = UInt64(try cursor.read(UInt32.self))
        var size = UInt64(try cursor.read(UInt32.self))
        let nameLength = Int(try cursor.read(UInt16.self))
        let extraLength = Int(try cursor.read(UInt16.self))
        let commentLength = Int(try cursor.read(UInt16.self))
        let firstDisk = try cursor.read(UInt16.self)
        _ = try cursor.readBytes(6)  // attributes
        var localOffset = UInt64(try cursor.read(UInt32.self))
        let rawName = try cursor.readBytes(nameLength)
        guard let name = String(validating: rawName, as: UTF8.self) else {
            throw WeightError.badHeader(file: file, reason: "zip entry name at byte \(at) is not valid UTF-8")
        }
        var extra = ByteCursor(bytes: try cursor.readBytes(extraLength), file: file)
        _ = try cursor.readBytes(commentLength)

        // The zip64 extra field holds, in order, each field whose 32-bit value is all ones.
        let saturated: UInt64 = 0xFFFF_FFFF
        do {
            while extra.remaining >= 4 {
                let id = try extra.read(UInt16.self)
                let length = Int(try extra.read(UInt16.self))
                var field = ByteCursor(bytes: try extra.readBytes(length), file: file)
                guard id == 0x0001 else { continue }
                if size == saturated { size = try field.read(UInt64.self) }
                if compressedSize == saturated { compressedSize = try field.read(UInt64.self) }
                if localOffset == saturated { localOffset = try field.read(UInt64.self) }
            }
        } catch {
            throw WeightError.badHeader(file: file, reason: "zip entry '\(name)': an extra field runs past its end (or zip64 sizes are missing)")
        }
        guard firstDisk == 0 || firstDisk == 0xFFFF else {
            throw WeightError.badHeader(file: file, reason: "zip entry '\(name)' is on disk \(firstDisk)")
        }
        // Each entry's local header and bytes must lie inside the file.
        let (end, overflow) = localOffset.addingReportingOverflow(compressedSize)
        guard !overflow, end <= UInt64(fileSize) else {
            throw WeightError.badHeader(
                file: file,
                reason: "zip entry '\(name)' at byte \(localOffset) with \(compressedSize) bytes runs past the end of the file (\(fileSize) bytes)")
        }
        return Entry(
            name: name, method: method, flags: flags, compressedSize: Int(compressedSize), size: Int(clamping: size),
            localHeaderOffset: Int(localOffset))
    }
}
