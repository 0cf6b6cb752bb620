import Foundation
@testable import Server
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// JSON bodies are bounded in shape before they are decoded: a huge array or object in any
/// field, or absurd nesting, is a 400 naming the field, while ordinary requests (long prompts,
/// unknown fields, a `control_image` object) decode as before.
@Suite struct JSONBudgetTests {
    /// `{"prompt": "x", "<field>": [0,0,...]}` with `count` zeros.
    static func body(field: String, zeros count: Int) -> Data {
        var bytes = Array(#"{"prompt": "x", ""#.utf8) + Array(field.utf8) + Array(#"": ["#.utf8)
        bytes.reserveCapacity(bytes.count + 2 * count + 2)
        for i in 0..<count { bytes += i == 0 ? [UInt8(ascii: "0")] : [UInt8(ascii: ","), UInt8(ascii: "0")] }
        bytes += Array("]}".utf8)
        return Data(bytes)
    }

    @Test func aHugeArrayInAnIgnoredFieldIsRefusedNamingIt() {
        // 30 MB of elements, as in the issue: refused from the scan, before any decoding.
        let data = Self.body(field: "junk", zeros: 15_000_000)
        #expect(data.count > 30_000_000)
        #expect(throws: ServerError.invalidField(
            field: "junk", message: "'junk' holds more than 10000 JSON values; no field of this API takes that much")
        ) { try ImageRequest.decodeJSON(data) }
    }

    @Test func manyMembersAndDeepNestingAreRefused() {
        let members = (0..<20_000).map { "\"k\($0)\": 1" }.joined(separator: ",")
        #expect(throws: ServerError.self) { try ImageRequest.decodeJSON(Data("{\(members)}".utf8)) }
        let deep = #"{"prompt": "x", "extra": "# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"
        #expect(throws: ServerError.invalidField(
            field: "extra", message: "'extra' nests deeper than 32 levels; no field of this API takes that much")
        ) { try ImageRequest.decodeJSON(Data(deep.utf8)) }
        let bareArray = "[" + Array(repeating: "0", count: 10_001).joined(separator: ",") + "]"
        #expect(throws: ServerError.invalidField(field: nil, message: "the JSON body holds more than 10000 JSON values")) {
            try ImageRequest.decodeJSON(Data(bareArray.utf8))
        }
    }

    /// Brackets, braces and commas inside strings (escaped quotes included) are text, not structure.
    @Test func ordinaryBodiesStillDecode() throws {
        let prompt = String(repeating: "a, [b], {c}, \\\"d,e\\\" ", count: 20_000)
        let json = #"{"prompt": "\#(prompt)", "unknown": {"a": [1, 2, {"b": null}]}, "control_image": {"id": "file-1", "filename": "x.png"}, "steps": 3}"#
        let request = try ImageRequest.decodeJSON(Data(json.utf8))
        #expect(request.prompt == prompt.replacingOccurrences(of: "\\\"", with: "\""))
        #expect(request.steps == 3 && request.controlImage == .storedFile(id: "file-1"))
        // Exactly at the bounds is still fine.
        #expect(throws: Never.self) { try Self.body(field: "junk", zeros: 9_998).withUnsafeBytes { try JSONBudget().check($0) } }
        #expect(throws: ServerError.self) { try Self.body(field: "junk", zeros: 9_999).withUnsafeBytes { try JSONBudget().check($0) } }
    }

    /// Peak memory of decoding 30 MB bodies, for the README's figures; meaningful only in a
    /// process of its own (peak RSS is per process), so it runs only when asked:
    /// `SD_MEASURE_JSON_PEAK=array|string|array-unchecked swift test ... --filter decodingPeakMemory`.
    /// `array-unchecked` decodes the array as the server did before `JSONBudget`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SD_MEASURE_JSON_PEAK"] != nil))
    func decodingPeakMemory() throws {
        let mode = ProcessInfo.processInfo.environment["SD_MEASURE_JSON_PEAK"] ?? ""
        let data: Data
        if mode == "string" {
            data = Data((#"{"prompt": "x", "junk": ""# + String(repeating: "a", count: 30_000_000) + #""}"#).utf8)
        } else {
            data = Self.body(field: "junk", zeros: 15_000_000)
        }
        func peakMB() -> Double {
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            return Double(usage.ru_maxrss) / 1024
        }
        let before = peakMB()
        if mode == "array-unchecked" {
            _ = try? JSONDecoder().decode(ImageRequest.self, from: data)
        } else {
            _ = try? ImageRequest.decodeJSON(data)
        }
        let growth = peakMB() - before
        let bodyMB = Double(data.count) / 1_048_576
        print("JSON peak (\(mode)): body \(String(format: "%.1f", bodyMB)) MB, peak RSS grew \(String(format: "%.1f", growth)) MB (\(String(format: "%.1f", growth / bodyMB))x the body)")
        if mode != "array-unchecked" { #expect(growth < 4 * bodyMB) }
    }

    @Test func theServerAnswers400ForAHugeIgnoredArray() async throws {
        try await withServer(generator: FakeGenerator()) { client in
            let body = String(decoding: Self.body(field: "junk", zeros: 1_000_000), as: UTF8.self)
            let reply = try await client.postJSON("/v1/images/generations", body)
            #expect(reply.status == .badRequest)
            #expect(reply.error?.param == "junk")
        }
    }
}
