import Imaging

extension SeededRandom {
    /// A generator for one purpose (`stream`) of one run (`seed`), independent of the others:
    /// the augmentation of sample 7 in epoch 2 never depends on thread scheduling or on how
    /// many numbers other samples drew.
    public init(seed: UInt64, stream: UInt64...) {
        var s = SeededRandom(seed: seed ^ 0x9E37_79B9_7F4A_7C15)
        for v in stream { s = SeededRandom(seed: s.next() ^ (v &* 0xD6E8_FEB8_6659_FD93)) }
        self.init(seed: s.next())
    }
}
