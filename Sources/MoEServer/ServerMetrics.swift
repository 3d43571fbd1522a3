import Foundation
import MoEModel
import MoEServe
import MoEStore
import Prometheus

/// The server's Prometheus metrics. Requests are counted as they are answered; the scheduler's and the expert
/// cache's counters are read at each scrape and copied into the registry (they count in the engine, which
/// knows nothing of Prometheus).
final class ServerMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let lock = NSLock()   // one scrape at a time: the copy below resets and refills counters
    private let scheduler: BatchScheduler
    private let model: Model

    /// Engine counters mirrored into Prometheus counters (name, help, value in a snapshot).
    private let schedulerCounters: [(Counter, KeyPath<SchedulerSnapshot, Int>)]
    private let schedulerGauges: [(Gauge, KeyPath<SchedulerSnapshot, Int>)]
    private let meanBatch: Gauge
    private let cacheCounters: [(Counter, KeyPath<CacheStatistics.Layer, Int>)]

    init(scheduler: BatchScheduler, model: Model) {
        self.scheduler = scheduler
        self.model = model
        let r = registry
        schedulerCounters = [
            (counter(r, "moe_completions_total", "Completions the scheduler finished (any stop reason)."), \.requestsCompleted),
            (counter(r, "moe_completions_refused_total", "Completions refused because the slots and queue were full."), \.requestsRefused),
            (counter(r, "moe_prompt_tokens_total", "Prompt tokens of finished completions."), \.promptTokens),
            (counter(r, "moe_prompt_tokens_reused_total", "Prompt tokens whose KV rows a slot still held (not computed)."), \.reusedPromptTokens),
            (counter(r, "moe_generated_tokens_total", "Tokens generated."), \.generatedTokens),
            (counter(r, "moe_batch_steps_total", "Forward calls of the batch scheduler."), \.steps),
            (counter(r, "moe_batch_rows_total", "Rows (tokens) those forward calls carried; rows / steps = mean batch."), \.rows),
            (counter(r, "moe_expert_runs_routed_total", "(token, expert) pairs the routers chose."), \.expertsRouted),
            (counter(r, "moe_expert_runs_computed_total", "Expert runs computed: routed - computed were saved by batching."), \.expertsComputed),
        ]
        schedulerGauges = [
            (gauge(r, "moe_slots", "Completion slots (decoding together)."), \.slots),
            (gauge(r, "moe_slots_active", "Slots running a completion."), \.activeSlots),
            (gauge(r, "moe_queue_depth", "Requests waiting for a slot."), \.queued),
            (gauge(r, "moe_state_bytes", "Bytes of the slots' KV caches and batch buffers."), \.stateBytes),
        ]
        meanBatch = gauge(r, "moe_batch_rows_per_step", "Mean rows per forward call since start.")
        cacheCounters = model.offload == nil ? [] : [
            (counter(r, "moe_expert_cache_requests_total", "Expert requests to the cache."), \.requests),
            (counter(r, "moe_expert_cache_hits_total", "Expert requests served from memory."), \.hits),
            (counter(r, "moe_expert_cache_prefetch_hits_total", "Expert requests served by a timely prefetch."), \.prefetchHits),
            (counter(r, "moe_expert_cache_misses_total", "Expert requests that waited for a read."), \.misses),
            (counter(r, "moe_expert_cache_bytes_read_total", "Bytes of experts read from disk."), \.bytesRead),
        ]
    }

    /// Counts one answered request (endpoint: the route, or "other").
    func countRequest(endpoint: String, status: Int) {
        counter(registry, "moe_http_requests_total", "HTTP requests answered, by endpoint and status.",
                labels: [("endpoint", endpoint), ("status", String(status))]).increment()
    }

    /// The Prometheus text exposition, with the engine's counters as they are now.
    func exposition() -> String {
        lock.lock()
        defer { lock.unlock() }
        let s = scheduler.snapshot()
        for (counter, key) in schedulerCounters { counter.reset(); counter.increment(by: Int64(s[keyPath: key])) }
        for (gauge, key) in schedulerGauges { gauge.set(Double(s[keyPath: key])) }
        meanBatch.set(s.steps > 0 ? Double(s.rows) / Double(s.steps) : 0)
        if !cacheCounters.isEmpty, let offload = model.offload {
            let total = CacheReport(offload: offload).statistics.total
            for (counter, key) in cacheCounters { counter.reset(); counter.increment(by: Int64(total[keyPath: key])) }
        }
        return registry.emitToString()
    }
}

/// A metric named in full (`moe_…_total`), with its # HELP line.
private func counter(_ registry: PrometheusCollectorRegistry, _ name: String, _ help: String, labels: [(String, String)] = []) -> Counter {
    registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
}

private func gauge(_ registry: PrometheusCollectorRegistry, _ name: String, _ help: String) -> Gauge {
    registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: [])
}
