/// Every problem a model file can have, named so that one line tells the user what and where.
/// Readers throw these; the CLI prints `error: \(description)` and exits 1.
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

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open: \(reason)"
        case let .truncated(path, what): return "\(path): file is truncated (\(what))"
        case let .badMagic(path, found): return "\(path): not a recognised model file (magic \(found))"
        case let .unsupportedVersion(path, v): return "\(path): unsupported format version \(v)"
        case let .malformed(path, what): return "\(path): malformed file: \(what)"
        case let .outOfBounds(path, what): return "\(path): \(what) lies outside the file"
        case let .unknownDType(path, tensor, dtype): return "\(path): tensor '\(tensor)' has unsupported type \(dtype)"
        case let .unsupportedArchitecture(path, name): return "\(path): unsupported architecture '\(name)'"
        case let .missingTensor(path, name): return "\(path): missing tensor '\(name)'"
        case let .shapeMismatch(path, tensor, e, f): return "\(path): tensor '\(tensor)' has shape \(f), expected \(e)"
        case let .missingFile(path): return "\(path): file not found"
        case let .badJSON(path, reason): return "\(path): malformed JSON: \(reason)"
        }
    }
}
