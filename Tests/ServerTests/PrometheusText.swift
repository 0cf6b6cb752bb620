import Foundation

/// A strict reader of the Prometheus text exposition format (0.0.4), for checking `/metrics`:
/// every line is `# HELP name text`, `# TYPE name type`, or a sample `name{label="value",...} value`
/// whose family was typed before it; label values use only the three escapes the format has;
/// histogram buckets are cumulative and end in `+Inf` equal to `_count`.
struct PrometheusText {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Problem: Error, CustomStringConvertible {
        let line: Int
        let reason: String
        var description: String { "line \(line): \(reason)" }
    }

    private(set) var samples: [Sample] = []
    private(set) var types: [String: String] = [:]

    init(_ text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else { throw Problem(line: 0, reason: "the text must end with a line feed") }
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let number = index + 1
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
                guard parts.count >= 3, parts[0] == "#" else { throw Problem(line: number, reason: "bad comment '\(line)'") }
                let name = String(parts[2])
                guard Self.isMetricName(name) else { throw Problem(line: number, reason: "bad name '\(name)'") }
                if parts[1] == "TYPE" {
                    let type = parts.count == 4 ? String(parts[3]) : ""
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(type) else {
                        throw Problem(line: number, reason: "bad type '\(type)'")
                    }
                    guard types[name] == nil else { throw Problem(line: number, reason: "second TYPE for \(name)") }
                    guard !samples.contains(where: { Self.family(of: $0.name, types: [name: type]) == name }) else {
                        throw Problem(line: number, reason: "TYPE for \(name) after its samples")
                    }
                    types[name] = type
                }
                continue
            }
            guard !line.isEmpty else { throw Problem(line: number, reason: "empty line") }
            let sample = try Self.sample(line, number: number)
            guard let family = Self.family(of: sample.name, types: types) else {
                throw Problem(line: number, reason: "sample \(sample.name) has no TYPE before it")
            }
            if types[family] == "histogram" && sample.name == family {
                throw Problem(line: number, reason: "a histogram sample must be _bucket, _sum or _count")
            }
            samples.append(sample)
        }
        try checkHistograms()
    }

    /// The value of the sample with exactly these labels, or nil.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The family a sample belongs to: its own name, or the histogram/summary it is a part of.
    private static func family(of name: String, types: [String: String]) -> String? {
        if types[name] != nil { return name }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if let type = types[base], type == "histogram" || (type == "summary" && suffix != "_bucket") { return base }
        }
        return nil
    }

    private static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == ":" }
    }

    private static func sample(_ line: Substring, number: Int) throws -> Sample {
        var rest = line[...]
        let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " } ?? rest.endIndex
        let name = String(rest[..<nameEnd])
        guard isMetricName(name) else { throw Problem(line: number, reason: "bad sample name '\(name)'") }
        rest = rest[nameEnd...]
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                guard let equals = rest.firstIndex(of: "=") else { throw Problem(line: number, reason: "label without '='") }
                let key = String(rest[..<equals])
                guard isMetricName(key), !key.contains(":") else { throw Problem(line: number, reason: "bad label name '\(key)'") }
                rest = rest[rest.index(after: equals)...]
                guard rest.first == "\"" else { throw Problem(line: number, reason: "label value not quoted") }
                rest = rest.dropFirst()
                var value = ""
                while true {
                    guard let c = rest.first else { throw Problem(line: number, reason: "unterminated label value") }
                    rest = rest.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        switch rest.first {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw Problem(line: number, reason: "bad escape in a label value")
                        }
                        rest = rest.dropFirst()
                    } else {
                        value.append(c)
                    }
                }
                guard labels.updateValue(value, forKey: key) == nil else { throw Problem(line: number, reason: "label \(key) twice") }
                if rest.first == "," { rest = rest.dropFirst() } else if rest.first != "}" {
                    throw Problem(line: number, reason: "expected ',' or '}'")
                }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw Problem(line: number, reason: "no space before the value") }
        let fields = rest.dropFirst().split(separator: " ", omittingEmptySubsequences: false)
        // A value, optionally followed by a timestamp in milliseconds.
        guard fields.count == 1 || (fields.count == 2 && Int64(fields[1]) != nil) else {
            throw Problem(line: number, reason: "bad value part '\(rest)'")
        }
        let text = String(fields[0])
        let value: Double
        switch text {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let parsed = Double(text), parsed.isFinite else { throw Problem(line: number, reason: "bad value '\(text)'") }
            value = parsed
        }
        return Sample(name: name, labels: labels, value: value)
    }

    private func checkHistograms() throws {
        for (family, type) in types where type == "histogram" {
            var series: [[String: String]: [(le: Double, count: Double)]] = [:]
            for sample in samples where sample.name == family + "_bucket" {
                var labels = sample.labels
                guard let le = labels.removeValue(forKey: "le"), let bound = le == "+Inf" ? .infinity : Double(le) else {
                    throw Problem(line: 0, reason: "\(family) bucket without a numeric le")
                }
                series[labels, default: []].append((bound, sample.value))
            }
            for (labels, buckets) in series {
                guard buckets.map(\.le) == buckets.map(\.le).sorted(), buckets.last?.le == .infinity else {
                    throw Problem(line: 0, reason: "\(family): buckets out of order or without +Inf")
                }
                guard buckets.map(\.count) == buckets.map(\.count).sorted() else {
                    throw Problem(line: 0, reason: "\(family): bucket counts are not cumulative")
                }
                guard value(family + "_count", labels) == buckets.last?.count, value(family + "_sum", labels) != nil else {
                    throw Problem(line: 0, reason: "\(family): +Inf differs from _count, or no _sum")
                }
            }
        }
    }
}
