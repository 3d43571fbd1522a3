// Tokenizing speed, for Tools/scripts/bench-tokenize.sh: encodes a file's bytes as one text (no BOS, special
// tokens not parsed, as llama-tokenize --no-bos --no-parse-special) and prints the ids' count, the time and the
// ids themselves (one line, comma-separated) to compare with llama-tokenize's.
import Foundation
import MoEFormats
import MoETokenizer

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: tokenize-bench MODEL(.gguf|tokenizer.json) FILE [--ids]\n".utf8))
    exit(2)
}
let model = arguments[1]
let spec = try model.hasSuffix(".gguf") ? TokenizerSpec(gguf: GGUFFile(path: model)) : TokenizerSpec(tokenizerJSON: model)
let tokenizer = try Tokenizer(spec: spec)
let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: arguments[2])))
let clock = ContinuousClock()
var ids: [Int] = []
// Fresh tokenizer state matters: the piece cache would make a second run faster, so time the first run only.
let elapsed = clock.measure { ids = tokenizer.encode(bytes: bytes, parseSpecial: false) }
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
print(String(format: "%d bytes, %d ids, %.3f s, %.2f MB/s", bytes.count, ids.count, seconds, Double(bytes.count) / seconds / 1e6))
if arguments.contains("--ids") { print(ids.map(String.init).joined(separator: ",")) }
