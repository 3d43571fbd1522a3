import ChatParsing
import Foundation
import Hummingbird

/// An error as OpenAI's API reports it: an HTTP status and `{"error": {"message", "type", "param", "code"}}`.
/// Every refusal of this server has this shape, so that OpenAI clients raise their usual exceptions.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    /// OpenAI's `type`: invalid_request_error, authentication_error, server_error, …
    public var type: String
    public var code: String?
    public var param: String?

    public init(_ status: HTTPResponse.Status, _ message: String, type: String = "invalid_request_error", code: String? = nil,
                param: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    static func invalid(_ message: String, param: String? = nil, code: String = "invalid_value") -> APIError {
        APIError(.badRequest, message, code: code, param: param)
    }

    static func busy(_ message: String) -> APIError {
        APIError(.serviceUnavailable, message, type: "server_error", code: "server_busy")
    }

    var json: JSONValue {
        .object([("error", .object([("message", .string(message)), ("type", .string(type)),
                                    ("param", param.map(JSONValue.string) ?? .null), ("code", code.map(JSONValue.string) ?? .null)]))])
    }

    var response: Response { jsonResponse(json, status: status) }
}

// MARK: - Building JSON

extension JSONValue {
    static func int(_ n: Int) -> JSONValue { .number(String(n)) }
    static func double(_ x: Double) -> JSONValue { x.isFinite ? .number(String(x)) : .null }
    static func optionalString(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }

    /// The number as a Double, when the value is one.
    var doubleValue: Double? { if case .number(let n) = self { return Double(n) } else { return nil } }
    /// The number as an Int, when it is a whole number in range.
    var intValue: Int? {
        guard case .number(let n) = self else { return nil }
        if let i = Int(n) { return i }
        guard let d = Double(n), d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }
    var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    var isNull: Bool { if case .null = self { return true } else { return false } }
}

func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
    var headers: HTTPFields = [.contentType: "application/json"]
    headers.append(contentsOf: extra)
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: value.compactText)))
}
