import ArgumentParser
import ChatTemplate
import Foundation
import MoEFormats
import MoEKernels
import MoEModel
import MoEQuantize
import ToolSupport

@main
struct MoEQuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moe-quantize",
        abstract: "Quantize a Hugging Face checkpoint or an F32/F16/BF16 GGUF file into a GGUF file (Q8_0, Q4_0/1, Q5_0/1, Q2_K…Q6_K, MXFP4).",
        discussion: """
        The output is a plain GGUF v3 file: llama.cpp and moe load it like one from
        llama-quantize. What differs is the rounding: each block's scale (and, for
        Q4_1, its minimum) is searched to minimise the block's squared error instead
        of being max/-8, and with --calibration the error of each column is weighted
        by how strongly a sample text drives it (llama.cpp's importance matrix idea).
        The formats are unchanged, so every GGUF reader benefits.

        Types, by role (norms and biases always F32):
          --type T         experts; alone it sets everything else too, with the
                           output head in Q6_K for 4-bit types (llama-quantize's
                           layout and size)
          --attn-type      attention projections      --embed-type   token embedding
          --output-type    output head                --shared-type  shared/dense FFN
          --router-type    routers (default f32)
          --tensor-type PATTERN=TYPE   per tensor, '*' matches anything, the last
                           match wins (e.g. 'blk.0.*=q8_0')
        Presets (--preset), then adjusted by the options above:
          small-ram  experts Q4_0; attention, shared FFN, embedding, output Q8_0
          balanced   experts Q4_1; the rest Q8_0
          quality    everything Q8_0
          compact    everything Q4_0, output Q6_K: llama-quantize's Q4_0 layout
          Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, MXFP4_MOE   llama-quantize's mixes, tensor
                     for tensor (same types and file size; only --tensor-type and
                     --router-type adjust them)
        A row length that does not divide into the type's blocks falls back as
        llama-quantize does (Q6_K → Q8_0, Q5_K → Q5_1, Q4_K → Q5_0, Q3_K/Q2_K →
        Q4_0; a row not a multiple of 32 → F16); the plan says so.

        Memory stays bounded whatever the checkpoint's size: tensors are read a
        chunk of rows at a time (8 MiB of input) with pread, and the written file
        is flushed and dropped from the page cache as it goes. The output goes to
        OUTPUT.partial and is renamed when complete: after an error or Ctrl-C
        nothing is left under OUTPUT.

        Examples:
          moe-quantize ~/models/Qwen3-30B-A3B out-Q4_0.gguf --type q4_0
          moe-quantize model-bf16.gguf model-small.gguf --preset small-ram
          moe-quantize ckpt/ out.gguf --type q4_0 --calibration sample.txt
          moe-quantize ckpt/ out.gguf --type q4_0 --rounding reference   # llama-quantize's bytes
          moe-quantize ckpt/ out.gguf --type q4_0 --dry-run              # print the plan only
          moe-quantize model-bf16.gguf out.gguf --type q8_0 --chat-template chat.jinja
          moe-quantize model-Q4_K_M.gguf companion-Q2_K.gguf --companion-only q2_k   # for moe --miss-precision low
        """
    )

    @Argument(help: "A Hugging Face folder (config.json, tokenizer.json, *.safetensors) or an F32/F16/BF16 GGUF file.")
    var input: String

    @Argument(help: "The GGUF file to write.")
    var output: String

    @Option(help: "Type of the routed experts: q4_0, q4_1, q5_0, q5_1, q8_0, q2_k … q6_k, mxfp4 (alone: of everything, see above).")
    var type: String?

    @Option(help: "small-ram, balanced, quality, compact, or a llama-quantize mix: Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, MXFP4_MOE.")
    var preset: String?

    @Option(name: .customLong("attn-type"), help: "Type of the attention projections.") var attnType: String?
    @Option(name: .customLong("embed-type"), help: "Type of the token embedding.") var embedType: String?
    @Option(name: .customLong("output-type"), help: "Type of the output head.") var outputType: String?
    @Option(name: .customLong("shared-type"), help: "Type of shared experts and dense FFNs.") var sharedType: String?
    @Option(name: .customLong("router-type"), help: "Type of the routers (default f32).") var routerType: String?
    @Option(name: .customLong("tensor-type"), help: "PATTERN=TYPE for matching tensors (repeatable).") var tensorType: [String] = []

    @Option(help: "optimal (searched scales) or reference (ggml's rounding: llama-quantize's bytes).")
    var rounding: String = "optimal"

    @Option(help: "Search effort of the optimal rounding, 0 (fast) to \(OptimalQuantize.maxEffort): more scales tried, slightly lower error.")
    var effort: Int = 0

    @Option(help: "A text file: weight the rounding by the activations it produces (needs the model to run).")
    var calibration: String?

    @Flag(help: "With --calibration: GPTQ, each column's rounding error pushed onto the columns not yet rounded (rows of at most 4096).")
    var gptq = false

    @Option(name: .customLong("calibration-tokens"), help: "Tokens of the calibration text to use.")
    var calibrationTokens: Int = 32_768

    @Option(help: "Tensor data alignment in bytes (a power of two), or 'page' for 4096. Default 32.")
    var alignment: String?

    @Option(name: .customLong("chat-template"),
            help: "A Jinja chat template file to store as tokenizer.chat_template (replacing the input's); checked to parse first.")
    var chatTemplate: String?

    @Option(help: "general.name of the output (default: the input's, or the folder name).")
    var name: String?

    @Option(name: [.short, .long], help: "Threads (default: physical cores). The output does not depend on it.")
    var threads: Int = ThreadPool.physicalCores

    @Option(help: ArgumentHelp("Also write a companion file for `moe --miss-precision low`: the same model with its routed experts in TYPE (q2_k, q3_k, iq4_xs, q4_0 …), written after OUTPUT with the same options.",
                               valueName: "TYPE=FILE"))
    var companion: String?

    @Option(name: .customLong("companion-only"),
            help: ArgumentHelp("Write only a companion of INPUT, the model file you run (quantized tensors allowed): OUTPUT holds INPUT's routed experts requantized to TYPE (q2_k, q3_k, iq4_xs …) and the rest in Q8_0 (moe reads only a companion's experts). For when the checkpoint the model came from is not at hand; the two roundings compound, so measure with `moe perplexity --miss-precision low`.",
                               valueName: "TYPE"))
    var companionOnly: String?

    @Flag(help: "Replace OUTPUT if it exists.") var force = false
    @Flag(name: .customLong("dry-run"), help: "Print the plan (each tensor's type and size) and write nothing.") var dryRun = false
    @Flag(help: "Print a JSON summary on stdout at the end.") var json = false

    func run() throws {
        do {
            try quantize()
        } catch let e as ValidationError {
            throw e
        } catch QuantizeError.interrupted {
            printErr("moe-quantize: interrupted; removed \(output).partial")
            throw ExitCode(130)
        } catch {
            printErr("moe-quantize: error: \(String(describing: error))")
            throw ExitCode(1)
        }
    }

    private func parseType(_ s: String, _ option: String) throws -> TensorType {
        guard let t = TensorType(name: s), TypeRules.writableTypes.contains(t) else {
            throw ValidationError("\(option): unknown type '\(s)' (\(TypeRules.writableTypes.map { $0.description.lowercased() }.joined(separator: ", ")))")
        }
        return t
    }

    private func rules() throws -> TypeRules {
        var r: TypeRules
        if let preset {
            guard let p = TypeRules.Preset.allCases.first(where: { $0.rawValue.lowercased() == preset.lowercased() }) else {
                throw ValidationError("unknown --preset '\(preset)' (\(TypeRules.Preset.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            r = p.rules
            if r.mix != nil {
                let roleOptions = [("--type", type), ("--attn-type", attnType), ("--embed-type", embedType),
                                   ("--output-type", outputType), ("--shared-type", sharedType)].filter { $0.1 != nil }.map(\.0)
                if !roleOptions.isEmpty {
                    throw ValidationError("--preset \(preset) is llama-quantize's mix tensor for tensor: adjust it with --tensor-type, not \(roleOptions.joined(separator: ", "))")
                }
            }
            if let type { r.experts = try parseType(type, "--type") }
        } else if let type {
            r = .uniform(try parseType(type, "--type"))
        } else {
            throw ValidationError("give --type (\(TypeRules.writableTypes.map { $0.description.lowercased() }.joined(separator: ", "))) or --preset (\(TypeRules.Preset.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let attnType { r.attention = try parseType(attnType, "--attn-type") }
        if let embedType { r.embedding = try parseType(embedType, "--embed-type") }
        if let outputType { r.output = try parseType(outputType, "--output-type") }
        if let sharedType { r.sharedFFN = try parseType(sharedType, "--shared-type") }
        if let routerType { r.router = try parseType(routerType, "--router-type") }
        for spec in tensorType {
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--tensor-type '\(spec)': expected PATTERN=TYPE") }
            r.overrides.append((parts[0], try parseType(parts[1], "--tensor-type")))
        }
        return r
    }

    /// `--companion-only TYPE`: the routed experts in TYPE, everything else Q8_0 (norms and routers F32 as always).
    private func companionOnlyRules() throws -> TypeRules {
        let given = [("--type", type), ("--preset", preset), ("--attn-type", attnType), ("--embed-type", embedType), ("--output-type", outputType),
                     ("--shared-type", sharedType), ("--companion", companion), ("--calibration", calibration)].filter { $0.1 != nil }.map(\.0)
        guard given.isEmpty, tensorType.isEmpty else {
            throw ValidationError("--companion-only sets every type itself; drop \((given + (tensorType.isEmpty ? [] : ["--tensor-type"])).joined(separator: ", "))")
        }
        var r = TypeRules.uniform(.q8_0)
        r.expertsForced = try parseType(companionOnly ?? "", "--companion-only")
        if let routerType { r.router = try parseType(routerType, "--router-type") }
        return r
    }

    private func quantize() throws {
        guard (1 ... ThreadPool.maxThreads).contains(threads) else {
            throw ValidationError("--threads must be 1…\(ThreadPool.maxThreads), not \(threads)")
        }
        guard let roundingMode = Rounding(rawValue: rounding) else {
            throw ValidationError("unknown --rounding '\(rounding)' (optimal, reference)")
        }
        guard calibrationTokens >= 2 else { throw ValidationError("--calibration-tokens must be at least 2") }
        if gptq, calibration == nil { throw ValidationError("--gptq needs --calibration") }
        if calibration != nil, roundingMode == .reference {
            throw ValidationError("--calibration weights the optimal rounding; it has no effect with --rounding reference")
        }
        var options = QuantizeOptions(rules: try companionOnly == nil ? rules() : companionOnlyRules(), threads: threads)
        options.rounding = roundingMode
        guard (0 ... OptimalQuantize.maxEffort).contains(effort) else {
            throw ValidationError("--effort must be 0…\(OptimalQuantize.maxEffort), not \(effort)")
        }
        options.effort = effort
        options.name = name
        options.gptq = gptq
        if let chatTemplate { options.chatTemplate = try Self.readTemplate(chatTemplate) }
        if let alignment {
            let a = alignment == "page" ? 4096 : Int(alignment) ?? 0
            guard a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw ValidationError("--alignment must be a power of two up to 1 MiB, or 'page', not '\(alignment)'")
            }
            options.alignment = a
        }
        var companionJob: (type: TensorType, path: String)?
        if let companion {
            let parts = companion.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else { throw ValidationError("--companion '\(companion)': expected TYPE=FILE") }
            companionJob = (try parseType(parts[0], "--companion"), parts[1])
        }
        if !dryRun {
            try checkOutput(output)
            if let c = companionJob {
                guard URL(fileURLWithPath: c.path).standardizedFileURL != URL(fileURLWithPath: output).standardizedFileURL else {
                    throw QuantizeError.output(path: c.path, reason: "is OUTPUT too")
                }
                try checkOutput(c.path)
            }
        }
        if companionOnly != nil, let forced = options.rules.expertsForced {
            // The input's own `swiftmoe.source_fingerprint`, if it has one, is copied with its metadata: the pair matches.
            options.acceptQuantizedInput = true
            options.extraMetadata = [(CompanionKeys.expertType, .string(forced.description.lowercased()))]
            try write(options, to: output)
        } else if let c = companionJob {
            // Both files carry the input's fingerprint: `moe --companion` refuses a pair that differs.
            let fingerprint = try QuantizeJob(input: input, options: options).sourceFingerprint()
            options.extraMetadata = [(CompanionKeys.sourceFingerprint, .string(fingerprint))]
            try write(options, to: output)
            options.rules.expertsForced = c.type
            options.extraMetadata.append((CompanionKeys.expertType, .string(c.type.description.lowercased())))
            try write(options, to: c.path)
        } else {
            try write(options, to: output)
        }
    }

    /// One quantization of the input with `options` into `output` (plan, calibration, progress, summary).
    private func write(_ options: QuantizeOptions, to output: String) throws {
        let job = try QuantizeJob(input: input, options: options)
        printPlan(job, output)
        if dryRun { return }

        if let calibration {
            printErr("moe-quantize: calibrating on \(calibration) (up to \(calibrationTokens) tokens)")
            let model = try Model(store: job.checkpoint.store)
            let start = Date()
            let cal = try Calibration.collect(model: model, textFile: calibration, maxTokens: calibrationTokens, threads: threads,
                                              covarianceWidth: gptq ? 4096 : 0)
            printErr("moe-quantize: calibration: \(cal.tokens) tokens in \(ProgressReporter.duration(Date().timeIntervalSince(start)))")
            job.options.calibration = cal
        }

        let interrupt = Interrupt(cleaning: output + ".partial", tool: "moe-quantize")
        let progress = ProgressReporter(total: job.inputBytes, tool: "moe-quantize", verb: "read")
        try job.write(to: output) { n in
            if interrupt.requested { throw QuantizeError.interrupted }
            progress.advance(n)
        }
        interrupt.stop()
        progress.finish()
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        let seconds = progress.elapsed
        printErr("moe-quantize: \(output): \(size) bytes (\(ProgressReporter.bytes(size))), \(String(format: "%.0f", Double(job.inputBytes) / max(seconds, 1e-3) / 1e6)) MB/s of input")
        if json {
            let summary: [String: Any] = [
                "input": input, "output": output, "output_bytes": size, "input_tensor_bytes": job.inputBytes,
                "seconds": seconds, "rounding": options.rounding.rawValue, "calibration": calibration ?? NSNull(),
                "file_type": job.fileType.description, "threads": threads,
                "types": Dictionary(grouping: job.plan, by: { $0.type.description }).mapValues { $0.count },
            ]
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    /// A template file's text, parsed once so that a syntax error stops here (FILE:LINE:COL: message), not in
    /// `moe chat` after the file is written.
    static func readTemplate(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw QuantizeError.input(path: path, reason: "cannot read the chat template (not a readable UTF-8 file)")
        }
        do { _ = try ChatTemplate(source: text) } catch let e as TemplateError {
            throw QuantizeError.input(path: e.line > 0 ? "\(path):\(e.line):\(e.column)" : path, reason: e.message)
        }
        return text
    }

    /// The output must not be the input, and must not exist unless --force; its folder must be writable.
    private func checkOutput(_ output: String) throws {
        let fm = FileManager.default
        let outURL = URL(fileURLWithPath: output).standardizedFileURL, inURL = URL(fileURLWithPath: input).standardizedFileURL
        guard outURL.path != inURL.path else { throw QuantizeError.output(path: output, reason: "is the input") }
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: output, isDirectory: &isDir) {
            guard !isDir.boolValue else { throw QuantizeError.output(path: output, reason: "is a folder") }
            guard force else { throw QuantizeError.output(path: output, reason: "exists (add --force to replace it)") }
        }
        // Create the partial file once now, so that an unwritable place fails before any work.
        let partial = output + ".partial"
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw QuantizeError.output(path: output, reason: "cannot create \(partial): \(String(cString: strerror(errno)))") }
        close(fd)
        unlink(partial)
    }

    private func printPlan(_ job: QuantizeJob, _ output: String) {
        let c = job.checkpoint.config
        printErr("moe-quantize: \(input): \(c.architecture), \(c.layerCount) layers, \(c.expertCount) experts, \(job.plan.count) tensors, \(ProgressReporter.bytes(job.inputBytes))")
        var byType: [String: (count: Int, bytes: Int)] = [:]
        for t in job.plan {
            let key = "\(t.role) \(t.type)"
            byType[key, default: (0, 0)].count += 1
            byType[key, default: (0, 0)].bytes += t.outputBytes
        }
        for key in byType.keys.sorted() {
            let v = byType[key]!
            printErr("  \(key.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(v.count).leftPad(4)) tensors  \(ProgressReporter.bytes(v.bytes))")
        }
        for t in job.plan where t.fellBack {
            printErr("  note: \(t.name) \(t.source.shape): rows of \(t.source.rowLength) do not divide into \(job.options.rules.preferredType(name: t.name, shape: t.source.shape)) blocks; stored as \(t.type)")
        }
        printErr("moe-quantize: → \(output): \(ProgressReporter.bytes(job.outputTensorBytes)) of tensor data, rounding \(job.options.rounding.rawValue)")
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

func printErr(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
