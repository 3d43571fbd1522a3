import Foundation
@testable import MoEFormats

// Target `safetensors`: one .safetensors file — header length, JSON header, tensor entries and their byte views.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = "fuzz.safetensors"
    let file = MappedFile(copying: fuzzBytes(data, size), path: path)
    do {
        let st = try SafetensorsFile(file: file)
        var sum = 0
        for name in st.names {
            guard let t = st.tensors[name] else { fatalError("name \(name) listed without a tensor") }
            if t.bytes.count > 0 { sum &+= Int(t.bytes[0]) &+ Int(t.bytes[t.bytes.count - 1]) }
        }
        _ = sum
    } catch {
        expectTypedError(error, path: path)
    }
    return 0
}
