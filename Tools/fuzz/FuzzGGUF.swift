import Foundation
@testable import MoEFormats

// Target `gguf`: a whole GGUF file — header, metadata, tensor infos, tensor views — then what opening a model
// reads from it next: the architecture and its ModelConfig (GGUFMetadata), validated as Model.load does.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = "fuzz.gguf"
    let file = MappedFile(copying: fuzzBytes(data, size), path: path)
    do {
        let gguf = try GGUFFile(file: file)
        // Every view must lie inside the copy: touching its first and last byte lets ASan check that.
        var sum = 0
        for t in gguf.tensors where t.bytes.count > 0 { sum &+= Int(t.bytes[0]) &+ Int(t.bytes[t.bytes.count - 1]) }
        for key in gguf.metadataKeys where gguf.metadata[key] == nil { fatalError("key \(key) listed without a value") }
        let spec = try Architectures.spec(gguf: gguf)
        let config = try spec.config(gguf: GGUFMetadata(gguf, arch: gguf.architecture ?? ""))
        try config.validate(path: path)
        _ = sum
    } catch {
        expectTypedError(error, path: path)
    }
    return 0
}
