import Foundation

/// Prints the results as a Markdown table (pasteable into Benchmarks/README.md): our min / median /
/// max and peak memory per item, and for each reference its seconds and our median / theirs.
struct ResultTable {
    let results: [ItemResult]
    let references: [ReferenceResult]
    let steps: Int
    /// Peak resident memory of this whole process.
    let processPeakBytes: Int?

    func print() {
        var header = "| item | ours min | median | max | ours peak |"
        var rule = "|---|---|---|---|---|"
        for reference in references {
            header += " \(reference.name) | ours / \(reference.name) |"
            rule += "---|---|"
        }
        Swift.print(header)
        Swift.print(rule)
        for result in results {
            let t = result.timing
            var row = String(
                format: "| %@ | %.2f s | %.2f s | %.2f s | %@ |", result.item.label(steps: steps), t.min, t.median, t.max,
                result.peakBytes.map(PeakMemory.format) ?? "?")
            for reference in references {
                if let theirs = reference.seconds[result.item] {
                    row += String(format: " %.2f s | %.2f |", theirs, t.median / theirs)
                } else {
                    row += " – | – |"
                }
            }
            Swift.print(row)
        }
        var peakRow = "| peak memory, whole run | | | | \(processPeakBytes.map(PeakMemory.format) ?? "?") |"
        for reference in references {
            if let ours = processPeakBytes, let theirs = reference.peakBytes {
                peakRow += " \(PeakMemory.format(theirs)) | " + String(format: "%.2f", Double(ours) / Double(theirs)) + " |"
            } else {
                peakRow += " \(reference.peakBytes.map(PeakMemory.format) ?? "–") | – |"
            }
        }
        Swift.print(peakRow)
        // Issue 6: request to PNG within 1.1x of (steps UNet steps + one VAE decode).
        let median = { (item: BenchmarkItem) in results.first { $0.item == item }?.timing.median }
        if let image = median(.image), let step = median(.unet), let decode = median(.vae) {
            let parts = Double(steps) * step + decode
            Swift.print(
                String(
                    format: "- whole image / (%d UNet steps + VAE decode) = %.2f s / %.2f s = %.3f", steps, image, parts,
                    image / parts))
        }
        if let adapted = median(.lora), let step = median(.unet) {
            Swift.print(String(format: "- UNet step with the LoRA / UNet step = %.2f s / %.2f s = %.3f", adapted, step, adapted / step))
        }
        if let controlled = median(.controlnet), let step = median(.unet) {
            Swift.print(String(format: "- ControlNet + UNet step / UNet step = %.2f s / %.2f s = %.3f", controlled, step, controlled / step))
        }
        for note in references.flatMap(\.notes) { Swift.print("- " + note) }
    }
}
