import CKernels
import Foundation
import MoEFormats
import MoEKernels
import MoEModel

/// How block scales are chosen.
public enum Rounding: String, Sendable, CaseIterable {
    /// ggml's reference rounding (Q4_0: d = max / −8; Q8_0: amax / 127): the bytes llama-quantize writes
    /// without an importance matrix. For comparisons and byte-for-byte checks.
    case reference
    /// Each block's scale (and minimum) searched to minimise its squared error, weighted by the calibration's
    /// column importances when given (`OptimalQuantize`).
    case optimal
}

public struct QuantizeOptions: Sendable {
    public var rules: TypeRules
    public var rounding: Rounding = .optimal
    public var calibration: Calibration?
    /// GPTQ: push each column's rounding error onto the columns not yet rounded, using the calibration's
    /// second moments (needs a calibration collected with covariances; tensors without them are rounded
    /// block by block as usual).
    public var gptq = false
    /// How hard the optimal rounding searches (0 … `OptimalQuantize.maxEffort`): more scales tried, slightly lower error.
    public var effort = 0
    public var threads: Int
    /// `general.alignment` of the output (nil: GGUF's default, 32 bytes).
    public var alignment: Int?
    /// `general.name` (nil: the input's, or the folder's name).
    public var name: String?
    /// Input bytes read per step: bounds memory (about 3.5× this for BF16 input) whatever the model's size.
    public var chunkBytes = 8 << 20
    /// `tokenizer.chat_template` of the output, replacing the input's (nil: the input's own — a GGUF's key, or a
    /// folder's chat_template.jinja / chat_template.json / tokenizer_config.json, as `moe chat` finds it).
    public var chatTemplate: String?
    /// Keys added to the output's metadata (a companion pair's `swiftmoe.source_fingerprint`).
    public var extraMetadata: [(String, GGUFValue)] = []
    /// Accept an input whose tensors are quantized (read dequantized): only to write a companion of the model file
    /// itself (`moe-quantize --companion-only`), where requantizing is the point; otherwise it compounds errors.
    public var acceptQuantizedInput = false

    public init(rules: TypeRules, threads: Int) {
        self.rules = rules
        self.threads = threads
    }
}

/// One output tensor: where it comes from and what it becomes.
public struct PlannedTensor: Sendable {
    public let source: SourceTensor
    public let type: TensorType
    /// The rules' type did not fit the row length and a wider one was taken.
    public let fellBack: Bool
    public let role: TensorRole
    public var name: String { source.name }
    public var outputBytes: Int { type.byteCount(elements: source.elementCount)! }
}

/// Quantizes a checkpoint into a GGUF file, one chunk of rows at a time: memory stays at a few chunks
/// whatever the model's size, rows are rounded in parallel, and the output appears under its name only
/// when complete.
public final class QuantizeJob: @unchecked Sendable {
    public let checkpoint: Checkpoint
    /// Rounding and calibration may change after planning; the types (`plan`) are fixed at init.
    public var options: QuantizeOptions
    public let plan: [PlannedTensor]

    public init(input: String, options: QuantizeOptions) throws {
        checkpoint = try Checkpoint(path: input, acceptQuantized: options.acceptQuantizedInput)
        var options = options
        options.rules.model = Self.mixModel(checkpoint)
        self.options = options
        plan = checkpoint.tensors.map { t in
            let (type, fellBack) = options.rules.type(name: t.name, shape: t.shape)
            return PlannedTensor(source: t, type: type, fellBack: fellBack, role: TensorRole.of(name: t.name, shape: t.shape))
        }
    }

    /// What a llama-quantize mix needs to know of the checkpoint.
    static func mixModel(_ checkpoint: Checkpoint) -> LlamaMix.Model {
        let c = checkpoint.config
        var m = LlamaMix.Model()
        m.layers = c.layerCount
        m.experts = c.expertCount
        m.gqa = c.kvHeadCount > 0 ? c.headCount / c.kvHeadCount : 1
        m.attentionVLayers = checkpoint.tensors.filter { LlamaMix.category($0.name) == .attentionV }
            .compactMap { LlamaMix.layer(of: $0.name) }.sorted()
        m.hasOutput = checkpoint.tensors.contains { $0.name == TensorName.output }
        return m
    }

    /// `general.file_type`: the mix's own number (Q4_K_M: 15 …), else llama_ftype's MOSTLY_<type> for `fileType`.
    public var fileTypeNumber: Int {
        if let mix = options.rules.mix { return mix.fileTypeNumber }
        switch fileType {
        case .q5_0: return 8
        case .q5_1: return 9
        case .q2_K: return 10
        case .q3_K: return 12
        case .q4_K: return 15
        case .q5_K: return 17
        case .mxfp4: return 38
        case .iq4_nl: return 25
        case .iq4_xs: return 30
        default: return GGUFModelMetadata.llamaFileType(fileType)
        }
    }

    public var inputBytes: Int { plan.reduce(0) { $0 + $1.source.byteCount } }
    public var outputTensorBytes: Int { plan.reduce(0) { $0 + $1.outputBytes } }

    /// The type named in `general.file_type`: the one holding most of the experts' bytes (most of the
    /// model), else most of all the bytes.
    public var fileType: TensorType {
        let experts = plan.filter { $0.role == .experts }
        let bytes = Dictionary(grouping: experts.isEmpty ? plan : experts, by: \.type).mapValues { $0.reduce(0) { $0 + $1.outputBytes } }
        return bytes.max { ($0.value, $0.key.rawValue) < ($1.value, $1.key.rawValue) }?.key ?? .f32
    }

    /// The output's metadata: a GGUF input's own keys (file type updated), or for a Hugging Face folder the
    /// keys llama.cpp's converter writes, the tokenizer converted from tokenizer.json.
    public func metadata() throws -> [(String, GGUFValue)] {
        let extra = Set(options.extraMetadata.map(\.0))
        return try inputMetadata().filter { !extra.contains($0.0) } + options.extraMetadata
    }

    /// A fingerprint of the input: FNV-1a (64 bits, hex) over every planned tensor's name, shape and type and
    /// the values of its first row. A model file and its companion written from the same input carry the same
    /// one (`moe-quantize --companion`), so that a companion of another checkpoint of the same shapes is refused.
    public func sourceFingerprint() throws -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 { for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 } }
        for t in plan {
            mix(Array("\(t.name) \(t.source.shape) \(t.source.type)".utf8))
            let row = UnsafeMutablePointer<Float>.allocate(capacity: t.source.rowLength)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(t.source.rowBytes, 1) * 4, alignment: 64)
            defer { row.deallocate(); scratch.deallocate() }
            if t.source.rowCount > 0 {
                try t.source.readRows(0 ..< 1, into: row, scratch: scratch)
                mix(UnsafeRawBufferPointer(start: row, count: t.source.rowLength * 4))
            }
        }
        return String(hash, radix: 16)
    }

    /// The input's own metadata, converted.
    private func inputMetadata() throws -> [(String, GGUFValue)] {
        let c = checkpoint.config
        switch checkpoint.store.source {
        case let .gguf(g):
            var m: [(String, GGUFValue)] = []
            for key in g.metadataKeys where key != "general.alignment" {
                var value = g.metadata[key]!
                if key == "general.file_type" { value = .uint32(UInt32(fileTypeNumber)) }
                if key == "general.name", let name = options.name { value = .string(name) }
                m.append((key, value))
            }
            if !g.metadataKeys.contains("general.file_type") {
                m.append(("general.file_type", .uint32(UInt32(fileTypeNumber))))
            }
            if !g.metadataKeys.contains("general.quantization_version") { m.append(("general.quantization_version", .uint32(2))) }
            if let template = options.chatTemplate {
                m.removeAll { $0.0 == "tokenizer.chat_template" }
                m.append(("tokenizer.chat_template", .string(template)))
            }
            return m
        case .safetensors:
            let counts = checkpoint.parameterCounts
            let name = options.name ?? URL(fileURLWithPath: checkpoint.path).standardizedFileURL.lastPathComponent
            // config.json again, for what ModelConfig keeps only derived (DeepSeek's mscale_all_dim, ERNIE's MoE grid).
            let hf = try? HFConfig.load(path: checkpoint.path + "/config.json")
            var m = GGUFModelMetadata.architecture(checkpoint.architecture, config: c, hf: hf, name: name, fileType: fileType,
                                                   parameterCount: counts.all, expertParameterCount: counts.experts)
            if let i = m.firstIndex(where: { $0.0 == "general.file_type" }) { m[i].1 = .uint32(UInt32(fileTypeNumber)) }
            let arch = GGUFModelMetadata.architectureName(checkpoint.architecture)
            let chatTemplate = try options.chatTemplate ?? ChatTemplateSource.find(folder: checkpoint.path)?.text
            let sentencePieceModel = checkpoint.path + "/tokenizer.model"
            if ["llama", "ernie4_5-moe"].contains(arch), FileManager.default.fileExists(atPath: sentencePieceModel) {
                // As the converter: Llama-family and ERNIE folders with a SentencePiece model get GGUF's `llama`
                // vocabulary (pieces, scores, types) from it, whatever tokenizer.json says.
                var spec = try TokenizerSpec(sentencePieceModel: sentencePieceModel)
                spec.eosTokenId = spec.eosTokenId ?? c.eosTokenId
                spec.bosTokenId = spec.bosTokenId ?? c.bosTokenId
                let tc = TokenizerConfig(folder: checkpoint.path, tokens: spec.tokens)
                m += try GGUFModelMetadata.sentencePieceTokenizer(spec, vocabSize: c.vocabSize, addedTokens: tc.addedTokens,
                                                                  padTokenId: tc.padTokenId ?? tc.configPadTokenId,
                                                                  addEosToken: tc.addEosToken, addSpacePrefix: tc.addPrefixSpace,
                                                                  chatTemplate: chatTemplate, path: sentencePieceModel)
                return m
            }
            // Special ids the tokenizer files do not name come from config.json, as llama.cpp's converter takes them.
            var spec = try checkpoint.store.tokenizerSpec()
            if case .sentencePiece = spec.kind {
                throw QuantizeError.unsupported(path: checkpoint.store.tokenizerPath, reason: "a SentencePiece-style tokenizer.json without tokenizer.model cannot be written as a GGUF vocabulary (it needs the pieces' scores): put the model's tokenizer.model beside it")
            }
            spec.eosTokenId = spec.eosTokenId ?? c.eosTokenId
            spec.bosTokenId = spec.bosTokenId ?? c.bosTokenId
            let tc = TokenizerConfig(folder: checkpoint.path, tokens: spec.tokens)
            m += try GGUFModelMetadata.tokenizer(spec, vocabSize: c.vocabSize, padTokenId: tc.padTokenId ?? spec.eosTokenId,
                                                 addEosToken: tc.addEosToken, chatTemplate: chatTemplate)
            return m
        }
    }

    /// Writes the file to `out` (through `out.partial`, renamed when complete; removed on any error).
    /// `progress` gets the input bytes of each chunk done; it may throw (`QuantizeError.interrupted`) to stop.
    public func write(to out: String, progress: @escaping (Int) throws -> Void = { _ in }) throws {
        let partial = out + ".partial"
        try? FileManager.default.removeItem(atPath: partial) // left by a killed run
        do {
            let writer = try GGUFWriter(path: partial, alignment: options.alignment)
            writer.dropWrittenPages = true
            for (key, value) in try metadata() { try writer.setMetadata(key, value) }
            let pool = ThreadPool(threads: options.threads)
            for t in plan {
                try writer.addTensor(name: t.name, type: t.type, shape: t.source.shape) { [self] sink in
                    try quantize(t, into: sink, pool: pool, progress: progress)
                }
            }
            try writer.finish()
            try checkpoint.checkUnchanged()
            guard rename(partial, out) == 0 else {
                throw QuantizeError.output(path: out, reason: "cannot rename \(partial): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }

    /// Streams one tensor: read a chunk of rows, round them in parallel, write them.
    private func quantize(_ t: PlannedTensor, into sink: TensorSink, pool: ThreadPool, progress: (Int) throws -> Void) throws {
        let src = t.source
        let cols = src.rowLength, rows = src.rowCount
        let outRowBytes = t.type.byteCount(elements: cols)!
        let chunkRows = max(1, min(rows, options.chunkBytes / max(1, src.rowBytes)))
        // Two input buffers: the next chunk is read (and widened to float) on another thread while the pool
        // rounds this one, so disk and CPU overlap.
        let buffers = (0 ..< 2).map { _ in ChunkBuffer(floats: chunkRows * cols, bytes: chunkRows * src.rowBytes) }
        let output = UnsafeMutableRawPointer.allocate(byteCount: chunkRows * outRowBytes, alignment: 64)
        defer { output.deallocate() }
        // Experts of a stacked tensor are rows [e · rowsPerExpert, (e + 1) · rowsPerExpert).
        let rowsPerExpert = src.shape.count == 3 ? src.shape[1] : rows
        let weightsByExpert = importance(for: t)
        let factors = gptqFactors(for: t)
        let ahead = ReadAhead()
        ahead.start(buffers[0]) { try src.readRows(0 ..< min(chunkRows, rows), into: $0.floats, scratch: $0.bytes) }
        var row = 0, current = 0
        while row < rows {
            let n = min(chunkRows, rows - row)
            try ahead.wait()
            let floats = buffers[current].floats
            if row + n < rows {
                let next = row + n ..< min(rows, row + n + chunkRows)
                ahead.start(buffers[1 - current]) { try src.readRows(next, into: $0.floats, scratch: $0.bytes) }
            }
            let first = row
            pool.forEach(n) { i, _ in
                let r = first + i
                let e = r / rowsPerExpert
                if let f = factors[e] {
                    let rc = f.u.withUnsafeBufferPointer { u in
                        f.diagonal.withUnsafeBufferPointer { d in
                            moe_gptq_row(Int32(t.type.rawValue), floats + i * cols, Int64(cols), u.baseAddress, d.baseAddress,
                                         output + i * outRowBytes, Int32(options.effort))
                        }
                    }
                    precondition(rc == 0, "moe_gptq_row refused \(t.type) with \(cols) columns")
                    return
                }
                let w = weightsByExpert[e]
                Self.quantizeRow(type: t.type, rounding: options.rounding, src: floats + i * cols, dst: output + i * outRowBytes,
                                 count: cols, weights: w, effort: options.effort)
            }
            row += n
            current = 1 - current
            do {
                try sink.write(UnsafeRawBufferPointer(start: output, count: n * outRowBytes))
                try progress(n * src.rowBytes)
            } catch {
                try? ahead.wait() // the reader must be done with the buffers before they go
                throw error
            }
        }
        for s in src.segments { s.file.dropFromCache(offset: s.offset, count: s.rows * src.sourceRowBytes) }
        try checkpoint.checkUnchanged()
    }

    /// The calibration's column weights for each expert of `t` (index 0 for an unstacked tensor), when
    /// rounding is weighted and the calibration reached the tensor.
    private func importance(for t: PlannedTensor) -> [Int: [Float]] {
        guard options.rounding == .optimal, t.type.isQuantized, let cal = options.calibration else { return [:] }
        let stacked = t.source.shape.count == 3
        var out: [Int: [Float]] = [:]
        for e in 0 ..< (stacked ? t.source.shape[0] : 1) {
            if let w = cal.weights(tensor: t.name, expert: stacked ? e : nil), w.count == t.source.rowLength { out[e] = w }
        }
        return out
    }

    /// GPTQ factors for each expert of `t` (index 0 for an unstacked tensor), when GPTQ is on, the type has
    /// a GPTQ path and the calibration holds the inputs' second moments. Factors are shared by the tensors
    /// of one input site (q, k, v; gate and up) and kept for the current layer only.
    private func gptqFactors(for t: PlannedTensor) -> [Int: GPTQFactor] {
        guard options.gptq, options.rounding == .optimal,
              OptimalQuantize.supportedTypes.contains(t.type) || TypeRules.kFamilyTypes.contains(t.type),
              let cal = options.calibration else { return [:] }
        let stacked = t.source.shape.count == 3
        var out: [Int: GPTQFactor] = [:]
        factorLock.withLock {
            let layer = t.name.split(separator: ".").dropFirst().first.map(String.init) ?? ""
            if layer != factorLayer { factorCache = [:]; factorLayer = layer }
            for e in 0 ..< (stacked ? t.source.shape[0] : 1) {
                guard let site = cal.site(tensor: t.name, expert: stacked ? e : nil) else { continue }
                if let f = factorCache[site] { out[e] = f; continue }
                guard let h = cal.statistics.secondMoments(site), h.count == t.source.rowLength * t.source.rowLength,
                      let f = GPTQFactor(secondMoments: h, cols: t.source.rowLength) else { continue }
                factorCache[site] = f
                out[e] = f
            }
        }
        return out
    }

    private let factorLock = NSLock()
    private var factorCache: [ActivationStatistics.Site: GPTQFactor] = [:]
    private var factorLayer = ""

    /// One row: `count` floats → `type`.
    static func quantizeRow(type: TensorType, rounding: Rounding, src: UnsafePointer<Float>, dst: UnsafeMutableRawPointer,
                            count: Int, weights: [Float]?, effort: Int) {
        if TypeRules.iq4Types.contains(type) {
            // ggml's search for either rounding (it is already a weighted least-squares search over 15 scales).
            let (t, n) = (Int32(type.rawValue), Int64(count))
            let rc = weights.map { w in w.withUnsafeBufferPointer { moe_quantize_iq4(t, src, dst, n, $0.baseAddress) } }
                ?? moe_quantize_iq4(t, src, dst, n, nil)
            precondition(rc == 0, "moe_quantize: \(type) refused a row of \(count)")
            return
        }
        if TypeRules.kFamilyTypes.contains(type) {
            // Reference: ggml's bytes without an importance matrix. Optimal: the error-minimising search, weighted by
            // the calibration when there is one (moe_quantize_k.h).
            let t = Int32(type.rawValue), n = Int64(count)
            let rc: Int32
            switch rounding {
            case .reference: rc = moe_quantize_ggml(t, src, dst, n, nil)
            case .optimal:
                if let weights {
                    rc = weights.withUnsafeBufferPointer { moe_quantize_kopt(t, src, dst, n, $0.baseAddress, Int32(effort)) }
                } else {
                    rc = moe_quantize_kopt(t, src, dst, n, nil, Int32(effort))
                }
            }
            precondition(rc == 0, "moe_quantize: \(type) refused a row of \(count)") // the plan only gives fitting rows
            return
        }
        switch (type, rounding) {
        case (.q4_0, .optimal), (.q4_1, .optimal), (.q8_0, .optimal):
            if let weights {
                weights.withUnsafeBufferPointer { OptimalQuantize.row(type: type, src: src, dst: dst, count: count, weights: $0.baseAddress, effort: effort) }
            } else {
                OptimalQuantize.row(type: type, src: src, dst: dst, count: count, effort: effort)
            }
        default:
            Quantize.row(type: type, src: src, dst: dst, count: count)
        }
    }
}

/// One chunk's input: the stored bytes and the rows widened to float32.
final class ChunkBuffer: @unchecked Sendable {
    let floats: UnsafeMutablePointer<Float>
    let bytes: UnsafeMutableRawPointer
    init(floats: Int, bytes: Int) {
        self.floats = .allocate(capacity: floats)
        self.bytes = .allocate(byteCount: bytes, alignment: 64)
    }
    deinit {
        floats.deallocate()
        bytes.deallocate()
    }
}

/// At most one read in flight on a background thread; `wait` returns when it is done and rethrows its error.
final class ReadAhead: @unchecked Sendable {
    private let queue = DispatchQueue(label: "moe-quantize.read-ahead")
    private let done = DispatchSemaphore(value: 0)
    private var pending = false
    private var failure: Error?

    func start(_ buffer: ChunkBuffer, _ read: @escaping @Sendable (ChunkBuffer) throws -> Void) {
        precondition(!pending, "ReadAhead: a read is already in flight")
        pending = true
        queue.async { [self] in
            do { try read(buffer) } catch { failure = error }
            done.signal()
        }
    }

    func wait() throws {
        guard pending else { return }
        done.wait()
        pending = false
        if let e = failure {
            failure = nil
            throw e
        }
    }
}

/// What tokenizer_config.json (and config.json) add to the tokenizer files: the padding token,
/// add_eos_token; for SentencePiece vocabularies also `added_tokens_decoder` and
/// `add_prefix_space`.
struct TokenizerConfig {
    var padTokenId: Int?
    /// config.json's `pad_token_id` (the converter's SpecialVocab falls back to it).
    var configPadTokenId: Int?
    var addEosToken = false
    var addedTokens: [AddedToken] = []
    /// An explicit true or false only (null means the tokenizer's own default).
    var addPrefixSpace: Bool?

    init(folder: String, tokens: [String]) {
        if let data = FileManager.default.contents(atPath: folder + "/config.json"),
           let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            configPadTokenId = root["pad_token_id"] as? Int
        }
        guard let data = FileManager.default.contents(atPath: folder + "/tokenizer_config.json"),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return }
        func content(_ v: Any?) -> String? { (v as? String) ?? (v as? [String: Any])?["content"] as? String }
        if let pad = content(root["pad_token"]) { padTokenId = tokens.firstIndex(of: pad) }
        addEosToken = root["add_eos_token"] as? Bool ?? false
        addPrefixSpace = root["add_prefix_space"] as? Bool
        if let decoder = root["added_tokens_decoder"] as? [String: Any] {
            for (key, value) in decoder {
                guard let id = Int(key), let entry = value as? [String: Any], let text = entry["content"] as? String else { continue }
                addedTokens.append(AddedToken(id: id, content: text, special: entry["special"] as? Bool ?? false))
            }
            addedTokens.sort { $0.id < $1.id }
        }
    }
}
