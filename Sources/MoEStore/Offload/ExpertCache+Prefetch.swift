extension ExpertCache {
    /// Experts prefetched for the nearest MoE layer ahead: `prefetchCount`, else top-k plus half again.
    /// Whether `layer` is guessed for now: not when its loaded guesses were mostly unused, but for one token in
    /// eight, so that its precision is still measured.
    private func guessesPay(layer: Int) -> Bool {
        let (precision, tokens) = guessPrecision(layer: layer)
        return (precision ?? 1) >= Self.minimumGuessPrecision || tokens % 8 == 0
    }

    /// Below this share of used guesses a layer's guessing pauses (see `prefetchAhead`).
    public static let minimumGuessPrecision = 0.35

    public var widePrefetchCount: Int {
        options.prefetchCount ?? (layout.expertsPerToken + layout.expertsPerToken / 2)
    }

    /// The predictive policy's move after MoE layer `layer` chose its experts (one token, decode order):
    /// prefetch for the `lookahead` MoE layers that follow (past the last one, the next token's first, from
    /// transition statistics alone since that token is not known yet). Several layers ahead so that a load
    /// has that many layers' compute to arrive in; the nearest layer's guess is the best and takes
    /// `widePrefetchCount` experts, the others top-k, each scaled down by the predictor's recent recall.
    ///
    /// With reads still queued the disk is the bottleneck: a wrong guess costs a whole read that a demand
    /// load then waits behind, so only the next layer is guessed, and only its top-k. And the guesses read no
    /// more than the disk can while the layers before the guessed one compute (`GuessWindow`), weighed by
    /// the layer's share of used guesses (`prefetch(window:precision:)`): on a slow disk, where decode is
    /// bound by the bytes read, a guess past that window only adds bytes.
    ///
    /// - next: the MoE layer after a layer (`next(-1)`: the first), nil past the last.
    /// - fullRank: low-bit mode's full-copy ranks (`LowBitMisses`): only a layer's first `fullRank` predicted
    ///   experts are guessed. The others, guessed as full copies, would be computed from those (a held expert is
    ///   not computed low-bit), so that low-bit mode read as many bytes as exact mode (olmoe-like Q4_0 under
    ///   1.5 GiB: 273–280 MB a token against LFU's 167, 0.78× its decode); guessed as companion copies, they
    ///   crowded the small low-bit cache (212–221 MB, 0.76–0.89×). Guessing the first only: 176–178 MB, 1.05×.
    /// - routerProbs: a layer's router applied to the current hidden state, softmaxed, or nil (no router
    ///   information: a forced routing trace, or a simulation). Called only for layers predicted.
    /// Shared by the forward pass and the simulator (`CacheSimulator`), so both make the same guesses.
    public func prefetchAhead(after layer: Int, next: (Int) -> Int?, fullRank: Int? = nil, routerProbs: (Int) -> UnsafePointer<Float>?) {
        guard let predictor else { return }
        // The eviction order's forecasts: this layer's next turn (the next token), and the next layer's (this one).
        if layer >= 0, let f = predictor.forecast(layer: layer, crossLayer: false) { forecast(layer: layer, probabilities: f) }
        if let target = next(layer), let f = predictor.forecast(layer: target, crossLayer: true) { forecast(layer: target, probabilities: f) }
        let busy = !isSimulation && ioBacklog > 0
        let k = layout.expertsPerToken
        let allowance = guessAllowance()
        var spent = 0
        /// Bytes the disk can still read before the layer `distance` ahead asks; nil: not limited.
        func window(_ distance: Int) -> Double? { allowance.map { $0.perLayer * Double(distance) - Double($0.pending + spent) } }
        func precision(_ layer: Int) -> Double { guessPrecision(layer: layer).precision ?? 0.5 }
        /// Loads `predicted` (most likely first) for `target` within the window; returns the bytes queued.
        func guess(_ target: Int, _ predicted: [Int], window: Double?, precision: Double) -> Int {
            let limit = fullRank.map { $0 < k ? $0 : predicted.count } ?? predicted.count   // (every rank full: exact mode's guesses)
            return prefetch(layer: target, experts: Array(predicted.prefix(limit)), window: window, precision: precision)
        }
        var from = layer
        for distance in 1 ... (busy ? 1 : options.lookahead) {
            guard let target = next(from) else {
                if distance == 1, let first = next(-1), guessesPay(layer: first) {
                    _ = guess(first, predictor.predict(layer: first, routerProbs: nil, count: widePrefetchCount),
                              window: window(1), precision: precision(first))
                }
                return
            }
            let wide = distance == 1 && !busy
            // A layer whose loaded guesses were mostly unused (under a forced trace the router says nothing and
            // the transition counts name 20–30% of the experts not already held) gets none, but for one token
            // in eight, so that its precision is still measured: a wasted guess costs a whole read.
            guard guessesPay(layer: target) else {
                from = target
                continue
            }
            let count = predictor.worthwhile(wide ? widePrefetchCount : min(widePrefetchCount, k), layer: target)
            spent += guess(target, predictor.predict(layer: target, routerProbs: routerProbs(target), count: count, crossLayer: distance == 1),
                           window: window(distance), precision: precision(target))
            from = target
        }
    }
}
