/// Every problem a model file can have, named so that one line tells the user what and where.
/// Readers throw these; the CLI prints `moe: error: \(description)` and exits 1.
/// `description` is always one line: text that came from the file is quoted through `FormatError.quote`
/// (short, control characters escaped) and the whole line is made safe again at the end.
public enum FormatError: Error, CustomStringConvertible, Equatable, Sendable {
    case cannotOpen(path: String, reason: String)
    case truncated(path: String, what: String)
    case badMagic(path: String, found: String)
    case unsupportedVersion(path: String, version: Int)
    case malformed(path: String, what: String)
    case outOfBounds(path: String, what: String)
    case unknownDType(path: String, tensor: String, dtype: String)
    case unsupportedArchitecture(path: String, name: String)
    case missingTensor(path: String, name: String)
    case shapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    case missingFile(path: String)
    case badJSON(path: String, reason: String)
    /// A shard that `index` (model.safetensors.index.json) lists is not in the folder.
    case missingShard(path: String, index: String)

    public var description: String {
        func q(_ text: String) -> String { Self.quote(text) }
        let line: String
        switch self {
        case let .cannotOpen(path, reason): line = "\(path): cannot open: \(reason)"
        case let .truncated(path, what): line = "\(path): truncated: \(what)"
        case let .badMagic(path, found): line = "\(path): not a recognised model file (magic \(found))"
        case let .unsupportedVersion(path, v): line = "\(path): unsupported format version \(v)"
        case let .malformed(path, what): line = "\(path): malformed file: \(what)"
        case let .outOfBounds(path, what): line = "\(path): \(what) lies outside the file"
        case let .unknownDType(path, tensor, dtype): line = "\(path): tensor \(q(tensor)) has unsupported type \(Self.clip(dtype))"
        case let .unsupportedArchitecture(path, name):
            // A config.json names HF model types; anything else is a GGUF file.
            let known = path.hasSuffix("config.json") ? Architectures.supportedModelTypes : Architectures.supportedGGUFArchitectures
            line = "\(path): unsupported architecture \(q(name)) (supported: \(known))"
        case let .missingTensor(path, name): line = "\(path): missing tensor \(q(name))"
        case let .shapeMismatch(path, tensor, e, f): line = "\(path): tensor \(q(tensor)) has shape \(f), expected \(e)"
        case let .missingFile(path): line = "\(path): file not found"
        case let .badJSON(path, reason): line = "\(path): malformed JSON: \(reason)"
        case let .missingShard(path, index): line = "\(path): file not found (a shard listed in \(Self.lastComponent(index)))"
        }
        return Self.oneLine(line)
    }

    /// Text from a file, fit for an error line: in quotes, shortened and escaped by `clip`.
    public static func quote(_ text: String, limit: Int = 80) -> String { "'\(clip(text, limit: limit))'" }

    /// `text` with control characters and line separators written as `\u{…}` escapes, cut to about `limit`
    /// characters (a corrupt file can hold a "name" megabytes long).
    public static func clip(_ text: String, limit: Int = 80) -> String {
        var out = "", length = 0
        for ch in text {
            if length >= limit { out += "…"; break }
            let piece = ch.unicodeScalars.contains(where: breaksLine)
                ? ch.unicodeScalars.map { "\\u{\(String($0.value, radix: 16))}" }.joined() : String(ch)
            out += piece
            length += piece.count
        }
        return out
    }

    /// Makes sure a message is one line whatever it holds: line breaks and other control characters become spaces.
    static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: breaksLine) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { breaksLine($0) ? " " : $0 }))
    }

    static func breaksLine(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
