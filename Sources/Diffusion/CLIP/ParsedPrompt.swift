/// A prompt after A1111 attention parsing: weighted text runs, `BREAK` markers and the
/// extra-network tags (`<lora:name:0.8>`) that were removed from the text.
public struct ParsedPrompt: Equatable, Sendable {
    /// One run of the prompt.
    public enum Fragment: Equatable, Sendable {
        /// Text with its attention weight (A1111 `[text, weight]`).
        case text(String, weight: Double)
        /// A standalone `BREAK` (A1111 `["BREAK", -1]`): start a new 75-token chunk.
        case chunkBreak
    }

    /// An extra-network tag `<kind:arg1:arg2...>` (A1111 `extra_networks.parse_prompt`).
    public struct ExtraNetworkTag: Equatable, Sendable {
        /// `lora`, `hypernet`, `lyco`, ...
        public var kind: String
        /// The text after `kind:`, split on `:` (name first, then multipliers).
        public var arguments: [String]
        /// The network's name (first argument).
        public var name: String { arguments.first ?? "" }
        /// The multiplier (second argument), if present and numeric.
        public var multiplier: Double? { arguments.count > 1 ? Double(arguments[1]) : nil }

        public init(kind: String, arguments: [String]) {
            self.kind = kind
            self.arguments = arguments
        }
    }

    /// The runs, in prompt order; adjacent runs of equal weight are already merged (as A1111).
    public var fragments: [Fragment]
    /// Tags removed from the text, in prompt order.
    public var extraNetworks: [ExtraNetworkTag]

    public init(fragments: [Fragment], extraNetworks: [ExtraNetworkTag] = []) {
        self.fragments = fragments
        self.extraNetworks = extraNetworks
    }

    /// The LoRA tags (`<lora:...>`, and LyCORIS's older `<lyco:...>`).
    public var loras: [ExtraNetworkTag] { extraNetworks.filter { $0.kind == "lora" || $0.kind == "lyco" } }
}
