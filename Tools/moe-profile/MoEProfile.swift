import ArgumentParser
import Foundation
import MoEFormats
import MoEModel
import MoEStore

@main
struct MoEProfile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moe-profile",
        abstract: "Why is it slow, and how much memory does it need? Routing traces, cache profiles, policy simulation.",
        discussion: """
        An MoE model's speed under a memory budget is decided by its expert cache: how often the experts a
        token needs are already in memory. This tool measures that and lets you try budgets and policies
        offline:

          moe-profile record   --model M --file TEXT --out trace.bin      routing of a text, token by token
          moe-profile simulate --trace trace.bin --budgets 0.125,0.25,0.5 --policies lru,lfu,predictive,belady
          moe-profile run      --model M --file TEXT --memory-budget 2GiB --cache-policy lru --svg run.svg
          moe-profile plan     --model M --memory 8GiB --trace trace.bin

        simulate replays a trace through the engine's own cache code (no second implementation) and Belady's
        MIN, the best any demand cache could do; run measures the real cache, with stall times; plan turns a
        trace and this machine's measured compute and disk speed into tokens/s at a budget, and the smallest
        budget that reaches a given share of full-RAM speed. Every command prints a table, or --json, --csv;
        simulate and run also draw an SVG report (--svg FILE). Docs/PROFILING.md explains each figure.
        """,
        subcommands: [Record.self, Simulate.self, Run.self, Plan.self]
    )
}

/// Prints `moe-profile: error: …` on stderr and exits 1.
func fail(_ error: Error) -> ExitCode {
    let message = "\(error)"
    FileHandle.standardError.write(Data("moe-profile: error: \(message)\n".utf8))
    return ExitCode(1)
}

/// Runs `body`, turning any error but argument errors into one error line and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ValidationError { throw e } catch let e as ExitCode { throw e } catch { throw fail(error) }
}

func printErr(_ s: String, terminator: String = "\n") {
    FileHandle.standardError.write(Data((s + terminator).utf8))
}

func jsonData<T: Encodable>(_ value: T) throws -> Data {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try enc.encode(value)
}

func printJSON<T: Encodable>(_ value: T) throws {
    FileHandle.standardOutput.write(try jsonData(value))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// --json, --csv and --svg, shared by the commands that report.
struct ReportOptions: ParsableArguments {
    @Flag(help: "Print one JSON object on stdout instead of the table.")
    var json = false
    @Flag(help: "Print CSV (one row per line of the table) on stdout instead of the table.")
    var csv = false
    @Option(help: ArgumentHelp("Also write the SVG report (one self-contained file for any browser) here.", valueName: "file.svg"))
    var svg: String?

    func validate() throws {
        if json && csv { throw ValidationError("--json and --csv: choose one") }
    }

    func writeSVG(_ figures: ProfileFigures) throws {
        guard let svg else { return }
        do {
            try Data(SVGReport.render(figures).utf8).write(to: URL(fileURLWithPath: svg))
        } catch {
            throw ValidationError("cannot write \(svg): \(error.localizedDescription)")
        }
        if !json && !csv { printErr("wrote \(svg)") }
    }
}

/// Loads a trace (our binary or JSON, or the reference layout), checked against a model when one is given.
func loadTrace(_ path: String, config: ModelConfig? = nil) throws -> RoutingTrace {
    let trace = try RoutingTrace(contentsOf: path)
    if let c = config {
        let moeLayers = (0 ..< c.layerCount).filter(c.isMoELayer).count
        try trace.requireShape(layers: moeLayers, experts: c.expertCount, k: c.expertsPerToken, modelName: c.architecture, path: path)
    }
    return trace
}

/// Percent with one decimal.
func pct(_ x: Double) -> String { x.isFinite ? String(format: "%.1f%%", 100 * x) : "-" }

/// One CSV line (fields quoted when needed).
func csvLine(_ fields: [String]) -> String {
    fields.map { f in f.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : f }
        .joined(separator: ",")
}

/// `s` padded with spaces to `width` (left-aligned; right-aligned with a negative width).
func pad(_ s: String, _ width: Int) -> String {
    let n = abs(width) - s.count
    guard n > 0 else { return s }
    return width < 0 ? String(repeating: " ", count: n) + s : s + String(repeating: " ", count: n)
}
