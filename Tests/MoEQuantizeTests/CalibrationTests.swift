import Foundation
import MoEFormats
import MoEModel
@testable import MoEQuantize
import Testing
import TestSupport

/// Calibration end to end on the reference model: statistics reach every product's input, GPTQ files load
/// and predict the text better than block rounding alone, and the CLI's plan and errors read well.
@Suite(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"))
struct CalibrationTests {
    static var tiny: String { SharedData.tiny! }

    /// A calibration text disjoint from what the perplexity below reads: the tail of valid.txt.
    static func texts(_ dir: TempDir) throws -> (calibration: String, evaluation: [Int]) {
        let text = try String(contentsOfFile: SharedData.root! + "/data/valid.txt", encoding: .utf8)
        let docs = text.components(separatedBy: "<|endoftext|>")
        let cal = dir.file("calibration.txt")
        try docs.suffix(200).joined(separator: "<|endoftext|>").write(toFile: cal, atomically: true, encoding: .utf8)
        let model = try Model(path: tiny)
        let eval = Array(model.tokenizer.encode(docs.prefix(40).joined(separator: "\n\n")).prefix(2048))
        return (cal, eval)
    }

    @Test func statisticsReachEveryProduct() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (cal, _) = try Self.texts(dir)
        let model = try Model(path: Self.tiny)
        let c = try Calibration.collect(model: model, textFile: cal, maxTokens: 1024, threads: 2, covarianceWidth: 256)
        #expect(c.tokens == 1024)
        let s = c.statistics
        #expect(s.count(.outputInput) == 1024)
        for l in 0 ..< model.config.layerCount {
            #expect(s.count(.attentionInput(layer: l)) == 1024 && s.count(.ffnInput(layer: l)) == 1024)
            let routed = (0 ..< model.config.expertCount).map { s.count(.expertInput(layer: l, expert: $0)) }
            #expect(routed.reduce(0, +) == 1024 * model.config.expertsPerToken)
            #expect(c.weights(tensor: "blk.\(l).ffn_down_exps.weight", expert: 0)?.count == model.config.expertFFN)
        }
        #expect(s.secondMoments(.attentionInput(layer: 0))?.count == 256 * 256)
        #expect(c.weights(tensor: "token_embd.weight", expert: nil) == nil)
    }

    @Test func gptqBeatsBlockRounding() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let (calText, eval) = try Self.texts(dir)
        let base = try Model(path: Self.tiny)
        let cal = try Calibration.collect(model: base, textFile: calText, maxTokens: 4096, threads: 2, covarianceWidth: 4096)
        var nll: [Double] = []
        for gptq in [false, true] {
            var o = QuantizeOptions(rules: .uniform(.q4_0), threads: 2)
            o.calibration = cal
            o.gptq = gptq
            let out = dir.file("g\(gptq).gguf")
            try QuantizeJob(input: Self.tiny, options: o).write(to: out)
            let r = try Model(path: out).perplexity(tokens: eval, window: 512, threads: 2, precision: .f32)
            nll.append(r.meanNLL)
        }
        print("calibrated Q4_0 mean NLL on 2048 held-out tokens: block rounding \(nll[0]), GPTQ \(nll[1])")
        #expect(nll[1] < nll[0])
    }

    @Test func cliPlanAndErrors() throws {
        let cli = ToolBinary("moe-quantize")
        let dir = try TempDir()
        defer { dir.cleanup() }
        let plan = try cli.run([Self.tiny, dir.file("x.gguf"), "--preset", "small-ram", "--dry-run"])
        #expect(plan.status == 0)
        #expect(plan.stderr.contains("experts Q4_0") && plan.stderr.contains("attention Q8_0"), "\(plan.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.gguf")))
        for (args, message) in [([Self.tiny, dir.file("x.gguf")], "give --type"),
                                ([Self.tiny, dir.file("x.gguf"), "--type", "iq2_xs"], "unknown type"),
                                ([Self.tiny, dir.file("x.gguf"), "--type", "q4_0", "--gptq"], "--gptq needs --calibration"),
                                ([Self.tiny, dir.file("x.gguf"), "--type", "q4_0", "--alignment", "100"], "power of two")] {
            let r = try cli.run(args)
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        let help = try cli.run(["--help"])
        #expect(help.status == 0 && help.stdout.contains("--calibration") && help.stdout.contains("small-ram"))
    }
}
