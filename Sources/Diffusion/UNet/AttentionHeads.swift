/// How a UNet splits its attention channels into heads: the one geometry fact the weights cannot say.
///
/// Mirrors LDM `UNetModel`'s two options: `num_heads` (SD1.x: 8 heads at every level, so the head
/// width grows with the channels) or `num_head_channels` (SD2.x and SDXL: 64-wide heads, so the
/// head count grows). diffusers' `attention_head_dim` holds the head *count* for all three families.
public enum AttentionHeads: Sendable, Equatable {
    /// A fixed number of heads at every level (LDM `num_heads`; SD1.x: 8, tiny-shapes: 8).
    case count(Int)
    /// A fixed head width (LDM `num_head_channels`; SD2.x and SDXL: 64).
    case headWidth(Int)

    /// The head count for an attention layer over `channels` channels, or nil when `channels` does
    /// not split evenly.
    public func heads(forChannels channels: Int) -> Int? {
        switch self {
        case .count(let n): n >= 1 && channels % n == 0 ? n : nil
        case .headWidth(let d): d >= 1 && channels % d == 0 ? channels / d : nil
        }
    }
}
