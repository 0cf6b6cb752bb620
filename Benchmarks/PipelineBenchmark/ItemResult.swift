/// Our measurement of one item.
struct ItemResult {
    let item: BenchmarkItem
    let timing: Timing
    /// Peak resident memory while the item ran (since a reset of VmHWM), or of the process so far
    /// where the reset is not allowed.
    let peakBytes: Int?
    /// What the output looked like (`TensorStats`), as a sanity check.
    let check: String
}
