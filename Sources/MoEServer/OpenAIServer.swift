import ChatParsing
import Foundation
import Hummingbird
import MoEChat
import MoEModel
import MoEServe
import ServiceLifecycle

/// How `moe serve` listens and what it answers with when a request leaves something out.
public struct ServerConfiguration: Sendable {
    public var host: String
    /// 0: any free port (the one taken is passed to `onListening`).
    public var port: Int
    /// With a key, every /v1 route requires `Authorization: Bearer KEY`.
    public var apiKey: String?
    public var maxBodyBytes: Int
    /// The id /v1/models lists and every response names (requests may name any model).
    public var modelId: String
    /// Sampling for fields a request leaves out (the command line's sampling options).
    public var defaultSampling: SamplingOptions
    /// On SIGINT/SIGTERM, running completions get this long to finish before they are cancelled.
    public var shutdownGrace: Duration

    public init(host: String = "127.0.0.1", port: Int = 8080, apiKey: String? = nil, maxBodyBytes: Int = 1 << 20,
                modelId: String, defaultSampling: SamplingOptions = SamplingOptions(), shutdownGrace: Duration = .seconds(10)) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.maxBodyBytes = maxBodyBytes
        self.modelId = modelId
        self.defaultSampling = defaultSampling
        self.shutdownGrace = shutdownGrace
    }
}

/// An OpenAI-compatible HTTP server over a `BatchScheduler`: chat and text completions (streamed as
/// server-sent events or whole), the model list, health and Prometheus metrics. Concurrent requests decode
/// together in the scheduler's slots; this layer renders chat templates, tokenizes, applies stop strings,
/// parses replies into content / reasoning / tool calls, and shapes OpenAI's JSON.
public final class OpenAIServer: Sendable {
    public let scheduler: BatchScheduler
    public let configuration: ServerConfiguration
    let model: Model
    let chatPrompt: ChatPrompt
    let metrics: ServerMetrics
    let startTime = Int(Date().timeIntervalSince1970)
    /// The tokens that end a chat reply (the template's end-of-turn tokens and end-of-text).
    let chatStopTokens: Set<Int>

    public init(scheduler: BatchScheduler, chatPrompt: ChatPrompt, configuration: ServerConfiguration) {
        self.scheduler = scheduler
        self.model = scheduler.model
        self.chatPrompt = chatPrompt
        self.configuration = configuration
        metrics = ServerMetrics(scheduler: scheduler, model: scheduler.model)
        chatStopTokens = scheduler.model.tokenizer.endOfGenerationIds
    }

    /// Serves until cancelled or, with `handleSignals`, until SIGINT/SIGTERM: then the scheduler stops taking
    /// requests, running completions get `shutdownGrace` to finish (then are cancelled), and the HTTP server
    /// closes once their responses are written. `onListening` gets the port once the socket is bound.
    public func run(handleSignals: Bool, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let port = configuration.port
        let app = Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: port), serverName: "moe-serve"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) })
        // Graceful shutdown runs in reverse order: the drain first (the scheduler finishes or cancels), then
        // the HTTP server, whose open responses have ended by then.
        let drain = SchedulerDrain(scheduler: scheduler, grace: configuration.shutdownGrace)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [app, drain], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: app.logger))
        try await group.run()
    }

    static let endpoints: Set<String> = ["/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"]

    func makeRouter() -> Hummingbird.Router<BasicRequestContext> {
        let router = Hummingbird.Router(context: BasicRequestContext.self)
        router.add(middleware: OpenAIMiddleware(apiKey: configuration.apiKey, metrics: metrics))
        router.get("/health") { _, _ in self.health() }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: self.metrics.exposition())))
        }
        router.get("/v1/models") { _, _ in
            jsonResponse(.object([("object", .string("list")), ("data", .array([self.modelObject]))]))
        }
        router.get("/v1/models/:id") { _, context in
            guard context.parameters.get("id") == self.configuration.modelId else {
                throw APIError(.notFound, "the model '\(context.parameters.get("id") ?? "")' is not served here (this server serves '\(self.configuration.modelId)')",
                               code: "model_not_found")
            }
            return jsonResponse(self.modelObject)
        }
        router.post("/v1/chat/completions") { request, _ in try await self.chatCompletion(request) }
        router.post("/v1/completions") { request, _ in try await self.textCompletion(request) }
        return router
    }

    var modelObject: JSONValue {
        .object([("id", .string(configuration.modelId)), ("object", .string("model")), ("created", .int(startTime)),
                 ("owned_by", .string("swiftmoe"))])
    }

    func health() -> Response {
        let s = scheduler.snapshot()
        return jsonResponse(.object([
            ("status", .string("ok")), ("model", .string(configuration.modelId)),
            ("slots", .int(s.slots)), ("slots_active", .int(s.activeSlots)), ("queued", .int(s.queued)),
            ("queue_limit", .int(scheduler.queueLimit)), ("context", .int(scheduler.contextLength)),
            ("requests_completed", .int(s.requestsCompleted)),
        ]))
    }

    // MARK: - Requests

    /// The body as JSON fields; 413 past --max-body.
    func readFields(_ request: Request) async throws -> RequestFields {
        let limit = configuration.maxBodyBytes
        let tooLarge = APIError(.contentTooLarge, "the request body exceeds \(limit) bytes (--max-body)", code: "body_too_large")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch let e as HTTPResponseError where e.status == .contentTooLarge {
            throw tooLarge
        }
        return try RequestFields(body: Array(buffer.readableBytesView))
    }

    /// Submits a prompt: max_tokens defaults to (and is cut to) the rest of the context.
    func submit(_ ids: [Int], _ g: GenerationParameters, stopTokens: Set<Int>, param: String) throws(APIError) -> CompletionHandle {
        let context = scheduler.contextLength
        let room = context - ids.count
        guard room >= 1 else {
            throw APIError(.badRequest, "the prompt is \(ids.count) tokens, which leaves no room for a reply in the context of \(context) tokens (--context)",
                           code: "context_length_exceeded", param: param)
        }
        let request = CompletionRequest(promptIds: ids, maxTokens: min(g.maxTokens ?? room, room), sampling: g.sampling,
                                        stopTokenIds: stopTokens, ignoreEOS: g.ignoreEOS, jsonObject: g.wantsJSON)
        do {
            return CompletionHandle(try scheduler.submit(request), promptTokens: ids.count)
        } catch let e as SchedulerError {
            switch e {
            case .busy: throw APIError.busy("all \(scheduler.slotCount) slots are busy and the queue is full; try again later")
            case .shuttingDown: throw APIError(.serviceUnavailable, e.description, type: "server_error", code: "shutting_down")
            case .tooLong: throw APIError(.badRequest, e.description, code: "context_length_exceeded", param: param)
            case .invalid(let why): throw APIError.invalid(why, param: param)
            }
        } catch {
            throw APIError(.internalServerError, "\(error)", type: "server_error")
        }
    }

    func chatCompletion(_ request: Request) async throws -> Response {
        let params = try ChatCompletionParameters(try await readFields(request), defaults: configuration.defaultSampling,
                                                  contextLength: scheduler.contextLength)
        let rendered: String
        do {
            rendered = try chatPrompt.render(messages: params.messages, tools: params.tools, addGenerationPrompt: true, variables: params.variables)
        } catch {
            throw APIError.invalid("the chat template (\(chatPrompt.origin)) refused the messages: \(error)", param: "messages", code: "template_error")
        }
        // As transformers: the template writes the special tokens as text; none is added.
        let ids = model.tokenizer.encode(rendered, parseSpecial: true)
        let handle = try submit(ids, params.generation, stopTokens: chatStopTokens, param: "messages")
        let parser = chatPrompt.replyParser(renderedPrompt: rendered, toolsJSON: params.toolsJSON).makeStreamParser()
        let reply = ChatReplyWriter(id: "chatcmpl-" + Self.randomId(), created: Int(Date().timeIntervalSince1970),
                                    model: configuration.modelId, generation: params.generation)
        if params.generation.stream {
            return sseResponse { writer in try await reply.stream(handle, parser: parser, to: &writer) }
        }
        return try await reply.whole(handle, parser: parser)
    }

    func textCompletion(_ request: Request) async throws -> Response {
        let params = try CompletionParameters(try await readFields(request), defaults: configuration.defaultSampling,
                                              contextLength: scheduler.contextLength)
        let ids = model.tokenizer.encodePrompt(params.prompt)   // BOS as `moe generate`
        let handle = try submit(ids, params.generation, stopTokens: [], param: "prompt")
        let reply = TextReplyWriter(id: "cmpl-" + Self.randomId(), created: Int(Date().timeIntervalSince1970),
                                    model: configuration.modelId, generation: params.generation, echo: params.echo ? params.prompt : nil)
        if params.generation.stream {
            return sseResponse { writer in try await reply.stream(handle, to: &writer) }
        }
        return try await reply.whole(handle)
    }

    func sseResponse(_ body: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                 body: ResponseBody { writer in
                     try await body(&writer)
                     try await writer.finish(nil)
                 })
    }

    static func randomId() -> String {
        String(UInt64.random(in: .min ... .max), radix: 16) + String(UInt32.random(in: .min ... .max), radix: 16)
    }
}

/// Authentication for /v1, OpenAI-shaped errors for whatever a route throws, and the request counter.
struct OpenAIMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let apiKey: String?
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let response: Response
        if path.hasPrefix("/v1"), let apiKey, !Self.authorized(request.headers[.authorization], key: apiKey) {
            response = APIError(.unauthorized, "a valid API key is required: Authorization: Bearer KEY", code: "invalid_api_key").response
        } else {
            do {
                response = try await next(request, context)
            } catch let e as APIError {
                response = e.response
            } catch let e as HTTPResponseError {
                let message = e.status == .notFound ? "no route \(request.method) \(path)" : e.status.reasonPhrase
                response = APIError(e.status, message, type: e.status.code >= 500 ? "server_error" : "invalid_request_error").response
            } catch {
                response = APIError(.internalServerError, "\(error)", type: "server_error").response
            }
        }
        metrics.countRequest(endpoint: OpenAIServer.endpoints.contains(path) ? path : "other", status: response.status.code)
        return response
    }

    /// Compares in time independent of where the texts differ.
    static func authorized(_ header: String?, key: String) -> Bool {
        guard let header else { return false }
        let given = Array(header.utf8), wanted = Array(("Bearer " + key).utf8)
        var diff = given.count ^ wanted.count
        for i in 0 ..< wanted.count { diff |= Int((i < given.count ? given[i] : 0) ^ wanted[i]) }
        return diff == 0
    }
}

/// On graceful shutdown: the scheduler stops taking requests and finishes what runs, cancelling it after
/// `grace`; on cancellation it cancels at once.
struct SchedulerDrain: Service {
    let scheduler: BatchScheduler
    let grace: Duration

    func run() async throws {
        let graceful: Bool
        do { try await gracefulShutdown(); graceful = true } catch { graceful = false }
        let scheduler = self.scheduler, grace = self.grace
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                scheduler.shutdown(cancel: !graceful)
                done.resume()
            }
            if graceful {
                let seconds = Double(grace.components.seconds) + Double(grace.components.attoseconds) * 1e-18
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { scheduler.shutdown(cancel: true) }
            }
        }
    }
}
