/// A bounds-checked little-endian reader over untrusted bytes.
///
/// Every read checks the bytes left first and throws `WeightError.truncated` instead of reading
/// past the end, so a parser built on it cannot crash on a short or hostile file. Counts read from
/// the file go through `checkCount` before anything is allocated for them.
struct ByteCursor {
    /// The whole file (offsets in errors are relative to its start).
    let bytes: UnsafeRawBufferPointer
    /// The file name used in errors.
    let file: String
    /// Offset of the next byte to read.
    private(set) var offset: Int

    init(bytes: UnsafeRawBufferPointer, file: String, offset: Int = 0) {
        self.bytes = bytes
        self.file = file
        self.offset = offset
    }

    /// Bytes not yet read.
    var remaining: Int { bytes.count - offset }

    /// Throws unless `count` more bytes are available.
    func require(_ count: Int) throws {
        guard count >= 0, count <= remaining else {
            let (end, overflow) = offset.addingReportingOverflow(count)
            throw WeightError.truncated(
                file: file, expectedBytes: overflow || count < 0 ? Int.max : end, actualBytes: bytes.count)
        }
    }

    /// Checks, before anything is allocated, that `count` items of at least `minimumBytes` each can
    /// fit in the bytes left. An untrusted count (2^60 tensors, a terabyte array) fails here.
    func checkCount(_ count: UInt64, minimumBytes: Int) throws -> Int {
        let (needed, overflow) = count.multipliedReportingOverflow(by: UInt64(max(minimumBytes, 1)))
        guard !overflow, needed <= UInt64(remaining) else {
            let (end, endOverflow) = UInt64(offset).addingReportingOverflow(needed)
            throw WeightError.truncated(
                file: file, expectedBytes: overflow || endOverflow ? Int.max : Int(clamping: end),
                actualBytes: bytes.count)
        }
        return Int(count)
    }

    /// Reads one little-endian integer.
    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        try require(size)
        // GGUF fields are packed, so loads are unaligned; files and hosts are little-endian.
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += size
        return value
    }

    /// Reads a binary32.
    mutating func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }

    /// Reads a binary64.
    mutating func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    /// Reads `count` raw bytes (already checked against the file size, so the copy is bounded).
    mutating func readBytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        try require(count)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        offset += count
        return slice
    }

    /// Moves forward to the next multiple of `alignment` (a power of two), even past the end;
    /// whatever lies beyond the end is checked by whoever uses the offset.
    mutating func align(to alignment: Int) {
        let mask = alignment - 1
        let (padded, overflow) = offset.addingReportingOverflow(mask)
        offset = overflow ? Int.max & ~mask : padded & ~mask
    }
}
