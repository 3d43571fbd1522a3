import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import MoEFormats
import Testing
import TestSupport

/// moe-profile end to end: the README's replay table, run/simulate agreement through the files the tool
/// writes, and one clear error line for bad traces and budgets.
@Suite(.enabled(if: ToolBinary("moe-profile").built && SharedData.available, "moe-profile not built, or ../shared absent"))
struct ProfileCLITests {
    static let tool = ToolBinary("moe-profile")
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Weights/tiny-qwen3moe-Q8_0.gguf").path

    static func json(_ r: ToolBinary.Result) throws -> [String: Any] {
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    /// The replay table of ../shared/README.md (one cache for all layers, one expert per request).
    @Test func simulateReproducesTheReadmeTable() throws {
        let r = try Self.tool.run(["simulate", "--trace", SharedData.tiny, "--one-at-a-time", "--policies", "lru,belady",
                                   "--budgets", "0.125,0.25,0.5,0.75", "--json"])
        let rows = try #require(try Self.json(r)["rows"] as? [[String: Any]])
        let got = rows.map { row -> String in
            let s = row["simulation"] as! [String: Any]
            return "\(s["policy"]!) \(s["capacity"]!) " + String(format: "%.3f", s["hit_rate"] as! Double)
        }
        #expect(got == ["lru 32 0.293", "belady 32 0.591", "lru 64 0.539", "belady 64 0.783",
                        "lru 128 0.833", "belady 128 0.936", "lru 192 0.964", "belady 192 0.988"])
    }

    /// record → run (live LRU, trace written) → simulate that trace at the run's cache size: same hit rate.
    @Test func runAgreesWithTheSimulationOfItsTrace() throws {
        let dir = try TempDir("moe-profile")
        defer { dir.cleanup() }
        let text = dir.file("text.txt")
        try Data(String(repeating: "In the beginning God created the heaven and the earth. def main(): return 0\n<|endoftext|>", count: 20).utf8)
            .write(to: URL(fileURLWithPath: text))
        let recorded = dir.file("recorded.trace")
        let rec = try Self.tool.run(["record", "-m", Self.model, "--file", text, "--out", recorded, "--max-tokens", "150"])
        #expect(rec.status == 0, "\(rec.stderr)")
        let trace = try RoutingTrace(contentsOf: recorded)
        #expect(trace.tokens == 150 && trace.layers == 8 && trace.k == 4 && trace.model?.layers == 8, "\(trace.tokens) \(String(describing: trace.model))")

        let runTrace = dir.file("run.json")
        let live = try Self.json(Self.tool.run(["run", "-m", Self.model, "--file", text, "--max-tokens", "150", "--cache-experts", "64",
                                                "--cache-policy", "lru", "--trace-out", runTrace, "--json", "--svg", dir.file("run.svg")]))
        let cache = try #require(live["cache"] as? [String: Any])
        #expect(live["capacity"] as? Int == 64)
        let sim = try Self.json(Self.tool.run(["simulate", "--trace", runTrace, "--policies", "lru", "--budgets", "0.25", "--json"]))
        let row = try #require((sim["rows"] as? [[String: Any]])?.first?["simulation"] as? [String: Any])
        #expect(row["capacity"] as? Int == 64)
        #expect(row["hit_rate"] as? Double == cache["hit_rate"] as? Double)
        // The SVG report is one well-formed XML document.
        let svg = try XMLDocument(contentsOf: URL(fileURLWithPath: dir.file("run.svg")))
        #expect(svg.rootElement()?.name == "svg")
    }

    /// plan on the reference model: the engine's split of the budget, calibrated compute and miss cost, a
    /// prediction no faster than full speed, and the smallest budget for 90% of it above the budget's cache.
    @Test func planPredictsForTheReferenceModel() throws {
        let o = try Self.json(Self.tool.run(["plan", "-m", Self.model, "--memory", "80MiB", "--trace", SharedData.tiny,
                                             "--tokens", "400", "--json"]))
        let at = try #require(o["at_budget"] as? [String: Any])
        let plan = try #require(o["plan"] as? [String: Any])
        let slots = try #require(at["slots"] as? Int)
        #expect(slots == plan["slots"] as? Int && slots >= 32 && slots < 256)
        let full = try #require(o["full_speed_tokens_per_second"] as? Double)
        let predicted = try #require(at["tokens_per_second"] as? Double)
        #expect(predicted > 0 && predicted <= full)
        #expect((o["disk_bytes_per_second"] as? Double ?? 0) > 0)
        let hit = try #require(at["hit_rate"] as? Double)
        #expect(hit > 0.2 && hit < 1)
        if let smallest = o["smallest_budget"] as? [String: Any] {
            #expect((smallest["share_of_full_speed"] as? Double ?? 0) >= 0.9)
            #expect((smallest["slots"] as? Int ?? 0) > slots || (at["share_of_full_speed"] as? Double ?? 0) >= 0.9)
        }
        let other = try Self.tool.run(["plan", "-m", Self.model, "--memory", "80MiB", "--trace", SharedData.root + "/traces/route-16x64-top8"])
        #expect(other.status == 1 && other.stderr.hasPrefix("moe-profile: error: "), "\(other.stderr)")
    }

    /// plan --companion: the budget split between full and low-bit copies as the engine splits it, the low-bit
    /// mode's share of requests and its bytes, and budgets from small to every expert; a companion of another
    /// shape is one error line.
    @Test func planSaysWhenLowBitCopiesPay() throws {
        let dir = try TempDir("moe-profile-low-bit")
        defer { dir.cleanup() }
        let companion = dir.file("companion.gguf")
        let q = try ToolBinary("moe-quantize").run([SharedData.tiny, companion, "--type", "q8_0", "--tensor-type", "*_exps*=q2_k"])
        #expect(q.status == 0, "\(q.stderr)")
        let o = try Self.json(Self.tool.run(["plan", "-m", Self.model, "--memory", "80MiB", "--trace", SharedData.tiny, "--tokens", "400",
                                             "--policy", "lfu", "--companion", companion, "--json"]))
        let exact = try #require(o["at_budget"] as? [String: Any])
        let low = try #require(o["low_bit"] as? [String: Any])
        let at = try #require(low["at_budget"] as? [String: Any])
        let plan = try #require(o["plan"] as? [String: Any])
        let slots = try #require(at["slots"] as? Int), lowSlots = try #require(at["low_bit_slots"] as? Int)
        let slotBytes = try #require(plan["slot_bytes"] as? Int), lowSlotBytes = try #require(low["low_bit_slot_bytes"] as? Int)
        // Q2_K experts against Q8_0: a smaller slot; both caches together within exact mode's expert memory.
        #expect(lowSlotBytes < slotBytes / 2)
        #expect(slots >= 4 && lowSlots >= 4 && slots < (exact["slots"] as? Int ?? 0))
        #expect(slots * slotBytes + lowSlots * lowSlotBytes <= (exact["slots"] as! Int + 1) * slotBytes)
        #expect(low["full_rank"] as? Int == 2)
        let uses = try #require(at["low_bit_uses"] as? Double)
        #expect(uses > 0 && uses <= 0.5, "at most the lower half of top-4 goes low-bit")
        #expect(at["exact_tokens_per_second"] as? Double == exact["tokens_per_second"] as? Double)
        let speedUp = try #require(at["speed_up"] as? Double), tps = try #require(at["tokens_per_second"] as? Double)
        #expect(abs(speedUp - tps / (exact["tokens_per_second"] as! Double)) < 1e-9)
        let budgets = try #require(low["budgets"] as? [[String: Any]])
        #expect(budgets.count == 8)
        // With every expert cached nothing misses, so nothing is computed from a low-bit copy but for the first touches.
        #expect((budgets.last?["low_bit_uses"] as? Double ?? 1) < uses)
        // At the budget, each share of the memory for the low-bit copies: more share, more low-bit slots; the
        // default share's figures are the budget's own; the fastest is named.
        let shares = try #require(low["shares"] as? [[String: Any]])
        #expect(shares.map { $0["share"] as? Double ?? 0 } == [0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9])
        let lowSlotsByShare = shares.map { $0["low_bit_slots"] as? Int ?? 0 }
        #expect(lowSlotsByShare == lowSlotsByShare.sorted() && lowSlotsByShare.first! < lowSlotsByShare.last!)
        #expect(shares[1]["low_bit_slots"] as? Int == lowSlots && shares[1]["tokens_per_second"] as? Double == tps)
        let best = try #require(low["best_share"] as? Double)
        #expect(shares.allSatisfy { ($0["tokens_per_second"] as! Double) <= shares.first { $0["share"] as? Double == best }!["tokens_per_second"] as! Double })
        // A companion of another shape.
        let wrong = try Self.tool.run(["plan", "-m", Self.model, "--memory", "80MiB", "--trace", SharedData.tiny, "--tokens", "100",
                                       "--companion", SharedData.root + "/models/tiny-mixtral-spm"])
        #expect(wrong.status == 1 && wrong.stderr.hasPrefix("moe-profile: error: ") && wrong.stderr.contains("not a companion"), "\(wrong.stderr)")
    }

    @Test func badTracesAndBudgetsGiveOneErrorLine() throws {
        let dir = try TempDir("moe-profile-bad")
        defer { dir.cleanup() }
        func expectError(_ args: [String], saying phrase: String, status: Int32 = 1) throws {
            let r = try Self.tool.run(args)
            #expect(r.status == status, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stdout.isEmpty)
            #expect(r.stderr.contains(phrase), "\(args): '\(r.stderr)' should say '\(phrase)'")
            if status == 1 { #expect(r.stderr.hasPrefix("moe-profile: error: ") && r.stderr.filter { $0 == "\n" }.count == 1, "\(r.stderr)") }
        }
        // A trace of another model's shape.
        try expectError(["simulate", "--trace", SharedData.root + "/traces/route-16x64-top8", "--model", Self.model], saying: "16")
        // A truncated trace.
        let small = RoutingTrace(tokens: 10, layers: 8, k: 4, experts: 32, ids: (0 ..< 320).map { UInt16($0 % 32) })
        let path = dir.file("t.trace")
        try small.write(to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 7).write(to: URL(fileURLWithPath: path))
        try expectError(["simulate", "--trace", path], saying: "truncated")
        // Budgets: out of (0, 1], too small for one layer's top-k, bytes without a model.
        try small.write(to: path)
        try expectError(["simulate", "--trace", path, "--budgets", "1.5"], saying: "(0, 1]", status: 64)
        try expectError(["simulate", "--trace", path, "--budgets", "0.001"], saying: "out of range")
        try expectError(["simulate", "--trace", path, "--budgets", "64MiB"], saying: "needs --model", status: 64)
        try expectError(["simulate", "--trace", path, "--policies", "fifo"], saying: "unknown policy", status: 64)
    }
}
