import Foundation
import Testing

@testable import Tensor

/// A zip archive of stored entries laid out as torch.save writes it, built byte by byte;
/// `zip64` moves every size and offset into zip64 extra fields and end records, as the writer
/// does for files over 4 GiB.
private func zipArchive(_ entries: [(name: String, data: [UInt8])], zip64: Bool = false) -> [UInt8] {
    func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
    var out: [UInt8] = []
    var central: [UInt8] = []
    for (name, data) in entries {
        let offset = out.count
        out += le(UInt32(0x0403_4b50)) + le(UInt16(45)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0)) + le(UInt32(0))
        out += le(UInt32(data.count)) + le(UInt32(data.count)) + le(UInt16(name.utf8.count)) + le(UInt16(0)) + Array(name.utf8)
        out += data
        let saturated = UInt32.max
        central += le(UInt32(0x0201_4b50)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0))
        central += le(UInt32(0))
        central += zip64 ? le(saturated) + le(saturated) : le(UInt32(data.count)) + le(UInt32(data.count))
        central += le(UInt16(name.utf8.count)) + le(UInt16(zip64 ? 32 : 0)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(0))
        central += le(UInt32(0)) + (zip64 ? le(saturated) : le(UInt32(offset))) + Array(name.utf8)
        if zip64 {
            // An unknown extra field first: readers skip fields they do not know.
            central += le(UInt16(0x5455)) + le(UInt16(0))
            central += le(UInt16(1)) + le(UInt16(24)) + le(UInt64(data.count)) + le(UInt64(data.count)) + le(UInt64(offset))
        }
    }
    let directoryOffset = out.count
    out += central
    if zip64 {
        let recordOffset = out.count
        out += le(UInt32(0x0606_4b50)) + le(UInt64(44)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt32(0)) + le(UInt32(0))
        out += le(UInt64(entries.count)) + le(UInt64(entries.count)) + le(UInt64(central.count)) + le(UInt64(directoryOffset))
        out += le(UInt32(0x0706_4b50)) + le(UInt32(0)) + le(UInt64(recordOffset)) + le(UInt32(1))
        out += le(UInt32(0x0605_4b50)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16.max) + le(UInt16.max)
        out += le(UInt32.max) + le(UInt32.max) + le(UInt16(0))
    } else {
        out += le(UInt32(0x0605_4b50)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(entries.count)) + le(UInt16(entries.count))
        out += le(UInt32(central.count)) + le(UInt32(directoryOffset)) + le(UInt16(0))
    }
    return out
}

/// Pickle opcodes, spelled as torch.save's protocol-2 pickler writes them.
private enum P {
    static let proto: [UInt8] = [0x80, 2], stop: [UInt8] = [0x2e], mark: [UInt8] = [0x28], tuple: [UInt8] = [0x74]
    static let emptyDict: [UInt8] = [0x7d], setItems: [UInt8] = [0x75], setItem: [UInt8] = [0x73], reduce: [UInt8] = [0x52]
    static let emptyTuple: [UInt8] = [0x29], newFalse: [UInt8] = [0x89]

    static func str(_ s: String) -> [UInt8] { [0x58] + withUnsafeBytes(of: UInt32(s.utf8.count).littleEndian, Array.init) + Array(s.utf8) }
    static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
    static func int(_ v: UInt8) -> [UInt8] { [0x4b, v] }
    static func int32(_ v: Int32) -> [UInt8] { [0x4a] + withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func put(_ i: UInt8) -> [UInt8] { [0x71, i] }
    static func get(_ i: UInt8) -> [UInt8] { [0x68, i] }
    static func ints(_ values: [Int32]) -> [UInt8] { mark + values.flatMap(int32) + tuple }

    /// `_rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, shape, strides, False, OrderedDict())`.
    static func tensor(key: String, numel: Int32, offset: Int32 = 0, shape: [Int32], strides: [Int32]) -> [UInt8] {
        global("torch._utils", "_rebuild_tensor_v2") + mark
            + mark + str("storage") + global("torch", "FloatStorage") + str(key) + str("cpu") + int32(numel) + tuple + [0x51]
            + int32(offset) + ints(shape) + ints(strides) + newFalse + global("collections", "OrderedDict") + emptyTuple + reduce
            + tuple + reduce
    }

    /// `{key: value, ...}`.
    static func dict(_ items: [(String, [UInt8])]) -> [UInt8] {
        proto + emptyDict + mark + items.flatMap { str($0.0) + $0.1 } + setItems + stop
    }
}

/// 0, 1, ..., 5 as little-endian f32.
private let sixFloats: [UInt8] = (0..<6).flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian, Array.init) }

private func pickleFile(_ program: [UInt8], storages: [(String, [UInt8])] = [("0", sixFloats)], zip64: Bool = false) throws -> TorchPickleFile {
    let entries = [("archive/data.pkl", program)] + storages.map { ("archive/data/\($0.0)", $0.1) } + [("archive/byteorder", Array("little".utf8))]
    return try TorchPickleFile(file: MappedFile(name: "t.pt", data: zipArchive(entries, zip64: zip64)))
}

/// The reason of a `.badHeader`/`.badOffsets`/`.badShape` naming t.pt, or the whole error.
private func failure(_ program: [UInt8], storages: [(String, [UInt8])] = [("0", sixFloats)]) -> String {
    do {
        _ = try pickleFile(program, storages: storages)
        return "no error"
    } catch let error as WeightError {
        switch error {
        case .badHeader("t.pt", let reason), .badOffsets("t.pt", _, let reason), .badShape("t.pt", _, _, let reason): return reason
        default: return "\(error)"
        }
    } catch {
        return "not a WeightError: \(error)"
    }
}

@Suite struct PickleMachineTests {
    @Test func zip64ArchiveReadsLikeThePlainOne() throws {
        let program = P.dict([("w", P.tensor(key: "0", numel: 6, offset: 2, shape: [2, 2], strides: [2, 1]))])
        for zip64 in [false, true] {
            let file = try pickleFile(program, zip64: zip64)
            #expect(file.tensorNames == ["w"])
            #expect(try file.tensor("w").toTensor().scalars == [2, 3, 4, 5], "zip64 \(zip64)")
        }
    }

    @Test func hostileProgramsAreErrorsNotCrashesOrHangs() {
        let w = { (offset: Int32, shape: [Int32], strides: [Int32]) in
            P.dict([("w", P.tensor(key: "0", numel: 6, offset: offset, shape: shape, strides: strides))])
        }
        #expect(failure(w(5, [2], [1])) == "offset 5 with shape [2] and strides [1] reaches element 6 of a storage of 6")
        #expect(failure(w(0, [-1], [1])) == "a negative dimension")
        #expect(failure(w(0, [2, 2], [1])).hasPrefix("strides [1] or offset 0 do not fit"))
        // A stride-0 view of 2^40 elements would be a 4 TiB copy: refused before allocating.
        #expect(failure(w(0, [1 << 20, 1 << 20], [0, 0])).hasPrefix("non-contiguous tensors would be copied into more bytes"))
        #expect(
            failure(P.dict([("w", P.tensor(key: "9", numel: 6, shape: [6], strides: [1]))]))
                == "its storage 'archive/data/9' is not in the archive")
        #expect(
            failure(P.dict([("w", P.tensor(key: "0", numel: 100, shape: [6], strides: [1]))]))
                == "its storage '0' of 24 bytes is too short for 100 f32 elements")

        #expect(failure(P.proto + P.stop) == "archive/data.pkl at byte 2: stack underflow")
        #expect(failure(P.proto + P.emptyDict) == "archive/data.pkl at byte 3: the pickle ends without STOP")
        #expect(failure(P.proto + [0xff]) == "archive/data.pkl at byte 2: opcode 0xff (unknown) is not supported")
        #expect(failure(P.proto + [0x69]) == "archive/data.pkl at byte 2: opcode 0x69 (INST) is not supported")
        #expect(failure(P.proto + P.get(5)) == "archive/data.pkl at byte 2: memo entry 5 was never stored")
        #expect(failure(P.proto + [0x8a, 9] + [UInt8](repeating: 1, count: 9)) == "archive/data.pkl at byte 2: an integer of 9 bytes does not fit in 64 bits")
        #expect(failure(P.proto + [0x58, 0xff, 0xff, 0xff, 0x7f]) == "archive/data.pkl at byte 2: the pickle ends inside opcode 0x58")
        #expect(failure(P.proto + [UInt8](repeating: 0x28, count: 70000)) == "archive/data.pkl at byte 65538: more than 65536 open MARKs")
        #expect(failure(P.proto + P.int(1) + P.stop) == "the saved object is not a dict of tensors (a whole pickled model is not read)")
        // STACK_GLOBAL (protocol 4) is checked like GLOBAL.
        let exec = P.proto + [0x8c, 8] + Array("builtins".utf8) + [0x8c, 4] + Array("exec".utf8) + [0x93] + P.stop
        #expect(failure(exec) == "t.pt: the pickle uses builtins.exec, which is not allowed (only tensors, storages and plain containers are read; nothing in the file is run)")
    }

    @Test func cyclesDeepNestingAndSharedContainersAreBounded() throws {
        // A dict that contains itself is walked once.
        let cycle = P.proto + P.emptyDict + P.put(0) + P.str("self") + P.get(0) + P.setItem + P.str("w")
            + P.tensor(key: "0", numel: 6, shape: [6], strides: [1]) + P.setItem + P.stop
        #expect(try pickleFile(cycle).tensorNames == ["w"])

        // A million nested tuples: built in the heap without recursion, refused by depth.
        let deep = P.dict([("t", P.emptyTuple + [UInt8](repeating: 0x85, count: 1_000_000))])
        #expect(failure(deep).hasPrefix("containers nested deeper than 64 at 't.0.0.0."))

        // 40 levels of dicts that each hold the next one twice: 2^40 paths from 40 dicts.
        var shared = P.proto + P.emptyDict + P.put(0)
        for level in 0..<40 {
            shared += P.emptyDict + P.mark + P.str("a") + P.get(UInt8(level)) + P.str("b") + P.get(UInt8(level)) + P.setItems
            shared += P.put(UInt8(level + 1))
        }
        #expect(failure(shared + P.stop) == "the saved object expands to more than 4194304 values")
    }
}
