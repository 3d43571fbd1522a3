import Foundation
import MoEFormats

/// A fresh directory under the system temporary folder, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("moe-tokenizer-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `contents` to `name` inside the directory and returns the file's path.
    func write(_ name: String, _ contents: Data) throws -> String {
        let file = URL(fileURLWithPath: path).appendingPathComponent(name)
        try contents.write(to: file)
        return file.path
    }

    func writeJSON(_ name: String, _ object: Any) throws -> String {
        try write(name, JSONSerialization.data(withJSONObject: object))
    }
}

/// A GGUF v3 file with the given metadata and no tensors, enough to exercise the tokenizer loader.
func ggufBytes(_ metadata: [(String, GGUFValue)]) -> Data {
    var out = Data()
    func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
    func putString(_ s: String) { put(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
    func putValue(_ value: GGUFValue) {
        switch value {
        case let .string(s): putString(s)
        case let .uint32(v): put(v)
        case let .int32(v): put(v)
        case let .bool(b): put(UInt8(b ? 1 : 0))
        case let .array(type, items):
            put(type.rawValue)
            put(UInt64(items.count))
            items.forEach(putValue)
        default: fatalError("test helper does not write \(value.type)")
        }
    }
    put(GGUFFile.magic)
    put(UInt32(3))
    put(UInt64(0)) // tensors
    put(UInt64(metadata.count))
    for (key, value) in metadata {
        putString(key)
        put(value.type.rawValue)
        putValue(value)
    }
    return out
}
