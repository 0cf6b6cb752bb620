extension KeyMap {
    /// The block counts of a diffusers UNet and VAE, read from their tensor names.
    ///
    /// LDM numbers the UNet's blocks through the network: `input_blocks.0` is `conv_in`, then each
    /// level's res blocks (with their attention as `.1`) and its downsampler; `output_blocks` runs
    /// through the up levels with the upsampler inside the level's last block, at position 2 when
    /// that block has attention and 1 otherwise. The VAE decoder's `up.I` counts from the lowest
    /// resolution, diffusers' `up_blocks.I` from the highest. SD 1.x has 2 res blocks per level
    /// (`input_blocks.(3i+j+1)`), but smaller models differ (tiny-shapes has 1), so nothing here
    /// is a constant.
    public struct Layout: Equatable, Sendable {
        /// Res blocks per UNet down level (`down_blocks.I.resnets.*`).
        public var downResnets: [Int]
        /// Whether each down level has a downsampler.
        public var downsamplers: [Bool]
        /// Res blocks per UNet up level (`up_blocks.I.resnets.*`).
        public var upResnets: [Int]
        /// Whether each up level has attention (which moves its upsampler to position 2).
        public var upAttentions: [Bool]
        /// Number of VAE decoder levels (`decoder.up_blocks.*`).
        public var vaeUpLevels: Int
        /// Number of a ControlNet's hint-encoder blocks between its first and last convolution
        /// (`controlnet_cond_embedding.blocks.*`, 6 in every released ControlNet).
        public var hintBlocks: Int

        /// A layout with explicit counts.
        public init(
            downResnets: [Int], downsamplers: [Bool], upResnets: [Int], upAttentions: [Bool], vaeUpLevels: Int, hintBlocks: Int = 0
        ) {
            self.downResnets = downResnets
            self.downsamplers = downsamplers
            self.upResnets = upResnets
            self.upAttentions = upAttentions
            self.vaeUpLevels = vaeUpLevels
            self.hintBlocks = hintBlocks
        }

        /// The counts found among `names` (diffusers names qualified by `unet/`, `controlnet/` and
        /// `vae/`; a ControlNet's encoder is numbered as the UNet's).
        public init(inferringFrom names: some Sequence<String>) {
            // Flags are counted as 0/1 so one helper grows every array.
            var downResnets: [Int] = [], downsamplers: [Int] = [], upResnets: [Int] = [], upAttentions: [Int] = []
            var vaeUpLevels = 0, hintBlocks = 0
            // Grows `array` to hold index `i` and raises element i to at least `value`.
            func raise(_ array: inout [Int], _ i: Int, to value: Int, empty: Int) {
                while array.count <= i { array.append(empty) }
                array[i] = max(array[i], value)
            }
            for name in names {
                var s = Substring(name)
                if let (_, rest) = KeyMap.match("controlnet/", s) {
                    if let (n, _) = KeyMap.match("controlnet_cond_embedding.blocks.#.", rest) {
                        hintBlocks = max(hintBlocks, n[0] + 1)
                        continue
                    }
                    s = Substring("unet/" + rest)
                }
                if let (n, _) = KeyMap.match("unet/down_blocks.#.resnets.#.", s) {
                    raise(&downResnets, n[0], to: n[1] + 1, empty: 0)
                } else if let (n, _) = KeyMap.match("unet/down_blocks.#.downsamplers.", s) {
                    raise(&downsamplers, n[0], to: 1, empty: 0)
                } else if let (n, _) = KeyMap.match("unet/up_blocks.#.resnets.#.", s) {
                    raise(&upResnets, n[0], to: n[1] + 1, empty: 0)
                } else if let (n, _) = KeyMap.match("unet/up_blocks.#.attentions.", s) {
                    raise(&upAttentions, n[0], to: 1, empty: 0)
                } else if let (n, _) = KeyMap.match("vae/decoder.up_blocks.#.", s) {
                    vaeUpLevels = max(vaeUpLevels, n[0] + 1)
                }
            }
            self.init(
                downResnets: downResnets, downsamplers: downsamplers.map { $0 > 0 }, upResnets: upResnets,
                upAttentions: upAttentions.map { $0 > 0 }, vaeUpLevels: vaeUpLevels, hintBlocks: hintBlocks)
        }

        /// LDM `input_blocks` index of res block `index` of down level `level`.
        public func inputBlock(level: Int, index: Int) -> Int {
            var block = 1  // input_blocks.0 is conv_in
            for l in 0..<level {
                block += count(downResnets, l) + (flag(downsamplers, l) ? 1 : 0)
            }
            return block + index
        }

        /// LDM `input_blocks` index of the downsampler of `level` (after its res blocks).
        public func downsamplerBlock(level: Int) -> Int {
            inputBlock(level: level, index: count(downResnets, level))
        }

        /// LDM `output_blocks` index of res block `index` of up level `level`.
        public func outputBlock(level: Int, index: Int) -> Int {
            (0..<level).reduce(0) { $0 + count(upResnets, $1) } + index
        }

        /// LDM `output_blocks.N.P` of the upsampler of up level `level`: the level's last block,
        /// after its res block (0) and, if present, its attention (1).
        public func upsampler(level: Int) -> (block: Int, position: Int) {
            (outputBlock(level: level, index: max(count(upResnets, level) - 1, 0)), flag(upAttentions, level) ? 2 : 1)
        }

        /// LDM `decoder.up` index of diffusers `decoder.up_blocks.<level>`.
        public func vaeUpBlock(level: Int) -> Int {
            max(vaeUpLevels - 1 - level, 0)
        }

        private func count(_ a: [Int], _ i: Int) -> Int { i < a.count ? a[i] : 0 }
        private func flag(_ a: [Bool], _ i: Int) -> Bool { i < a.count ? a[i] : false }
    }
}
