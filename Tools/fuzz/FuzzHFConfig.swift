import Foundation
@testable import MoEFormats

// Target `hf-config`: the JSON files of a Hugging Face folder other than the tokenizer's. Each input is read
// as config.json (HFConfig → the architecture's ModelConfig → validate) and as model.safetensors.index.json
// (the weight map), the two JSON files a checkpoint folder is opened with.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHFConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = fuzzBytes(data, size)
    let configPath = writeScratch("config.json", bytes)
    do {
        let hf = try HFConfig.load(path: configPath)
        let spec = try Architectures.spec(modelType: hf.modelType ?? "", path: configPath)
        let config = try spec.config(hf: hf, path: configPath)
        try config.validate(path: configPath)
    } catch {
        expectTypedError(error, path: configPath)
    }
    let indexPath = writeScratch("model.safetensors.index.json", bytes)
    do {
        _ = try SafetensorsCheckpoint.readWeightMap(indexPath)
    } catch {
        expectTypedError(error, path: indexPath)
    }
    return 0
}
