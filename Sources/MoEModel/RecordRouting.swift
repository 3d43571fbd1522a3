import Foundation
import MoEFormats
import MoEKernels
import MoEStore

extension Model {
    /// The model as a routing trace names it: GGUF `general.name` (else the file or folder name), the GGUF
    /// architecture spelling, the file's basename and bytes on disk, and the routing shape.
    public var traceIdentity: TraceModelIdentity {
        let path = store.path.hasSuffix("/") && store.path.count > 1 ? String(store.path.dropLast()) : store.path
        let base = URL(fileURLWithPath: path).lastPathComponent
        let name: String, architecture: String, bytes: Int
        switch store.source {
        case let .gguf(g):
            name = g.metadata["general.name"]?.string ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            architecture = g.architecture ?? GGUFModelMetadata.architectureName(store.architecture)
            bytes = g.file.size
        case let .safetensors(checkpoint):
            name = base
            architecture = GGUFModelMetadata.architectureName(store.architecture)
            bytes = checkpoint.shards.reduce(0) { $0 + $1.file.size }
        }
        return TraceModelIdentity(name: name, architecture: architecture, file: base, fileBytes: bytes,
                                  layers: moeOrdinal.filter { $0 >= 0 }.count, experts: config.expertCount, k: config.expertsPerToken)
    }

    /// `text` cut into documents at `<|endoftext|>`, each tokenized on its own (with BOS where the tokenizer
    /// adds one), without the end-of-text id; empty documents are dropped. `moe perplexity` splits a file the
    /// same way (and so were ../shared's valid-ids.bin and trace.bin made).
    public func documents(text: String) -> [[Int]] {
        text.components(separatedBy: "<|endoftext|>").compactMap { piece in
            tokenizer.encode(piece).isEmpty ? nil : tokenizer.encodePrompt(piece)
        }
    }

    /// Records the routing of `documents` as the expert cache sees it during generation: every token fed
    /// alone (decode order), the KV cache emptied at each document start (a document longer than
    /// `contextLength` goes on in a fresh window), every MoE layer's chosen experts and mixing weights kept
    /// in layer order. Empty documents are skipped; `maxTokens` stops after that many tokens in all.
    /// `progress(tokensDone, tokensTotal)` is called every 256 tokens and at the end.
    /// Works on offloaded models too: it only runs the forward pass.
    public func recordRouting(documents: [[Int]], maxTokens: Int? = nil, contextLength: Int = 2048,
                              threads: Int = ThreadPool.physicalCores, precision: ActivationPrecision = .f32,
                              progress: (Int, Int) -> Void = { _, _ in }) throws -> RoutingTrace {
        let state = InferenceState(config: config, contextLength: max(1, contextLength), maxBatch: 1, logitRows: 1,
                                   threads: threads, precision: precision)
        return try recordRouting(documents: documents, maxTokens: maxTokens, state: state, progress: progress)
    }

    /// The same on a state the caller set up (one token per call: `maxBatch` ≥ 1; its forced routing, if
    /// any, is what gets recorded). `logits`: what each step computes besides the routing (`.last` to time
    /// steps as generation runs them).
    public func recordRouting(documents: [[Int]], maxTokens: Int? = nil, state: InferenceState, logits: LogitsWanted = .none,
                              progress: (Int, Int) -> Void = { _, _ in }) throws -> RoutingTrace {
        let available = documents.reduce(0) { $0 + $1.count }
        let total = min(available, max(0, maxTokens ?? available))
        guard total > 0 else { throw InferenceError.emptyInput }
        let c = config, k = c.expertsPerToken
        let moeLayers = (0 ..< c.layerCount).filter { moeOrdinal[$0] >= 0 }
        var ids: [UInt16] = [], weights: [Float] = [], starts: [Int] = []
        ids.reserveCapacity(total * moeLayers.count * k)
        weights.reserveCapacity(total * moeLayers.count * k)
        var done = 0
        documents: for doc in documents where !doc.isEmpty {
            if done == total { break }
            starts.append(done)
            state.reset()
            for token in doc {
                if done == total { break documents }
                if state.position == state.contextLength { state.reset() }
                state.routingLog = RoutingLog(layerCount: c.layerCount)   // routingLog is indexed by model layer
                try forward([token], state: state, logits: logits)
                let log = state.routingLog!
                for l in moeLayers {
                    let decision = log.layers[l][0]
                    ids += decision.experts.map { UInt16($0) }
                    weights += decision.weights
                }
                done += 1
                if done % 256 == 0 || done == total { progress(done, total) }
            }
        }
        state.routingLog = nil
        return RoutingTrace(tokens: done, layers: moeLayers.count, k: k, experts: c.expertCount, ids: ids,
                            documentStarts: starts, weights: weights, model: traceIdentity)
    }
}
