import ArgumentParser
import Foundation
import MoEFormats
import MoETokenizer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids a model's tokenizer gives a text (as llama-tokenize does).",
        discussion: """
        Reads only the tokenizer, never the weights: a GGUF file (also one with a
        vocabulary and no tensors, like llama.cpp's ggml-vocab-*.gguf) or a Hugging
        Face folder with tokenizer.json, or with only SentencePiece's tokenizer.model
        (tokenizer.json wins when both are there, as in transformers).

        The ids start with BOS where the model adds one (Llama 2, Mixtral; not
        Qwen) and end with EOS where it asks for one. Special-token text in the
        input ("<s>", "<|endoftext|>") becomes that token. --no-special turns both
        off, like llama-tokenize --no-bos --no-parse-special.

        --file tokenizes the file's bytes exactly: no trailing newline is dropped,
        no escapes are processed. Bytes that are not UTF-8 go through as llama.cpp
        takes them: byte tokens (<0xFF>) for SentencePiece, U+FFFD for byte-level.

        Examples:
          moe tokenize -m ./tiny-mixtral-spm -p "Hello world"
            [1, 3547, 447, 1804]
          moe tokenize -m model.gguf -f prompt.txt --json
            {"token_ids":[…]}
          moe tokenize -m model.gguf -p "<s>Hi" --no-special --show-pieces
               713 -> ' <'
              4000 -> 's'
              …
        """
    )

    @Option(name: .shortAndLong, help: "GGUF file or Hugging Face folder (default: Weights/\(DefaultModel.fileName)).")
    var model: String?

    @Option(name: .shortAndLong, help: "The text to tokenize.")
    var prompt: String?

    @Option(name: .shortAndLong, help: "Tokenize this file's bytes exactly.")
    var file: String?

    @Flag(help: "Print one JSON object {\"token_ids\": [...]} (with \"pieces\" when --show-pieces).")
    var json = false

    @Flag(help: "Add no BOS/EOS, and read special-token text as ordinary text.")
    var noSpecial = false

    @Flag(help: "Print each token as llama-tokenize does: \"   id -> 'piece'\".")
    var showPieces = false

    func validate() throws {
        guard (prompt == nil) != (file == nil) else { throw ValidationError("give exactly one of --prompt TEXT and --file F") }
    }

    struct Output: Encodable {
        let token_ids: [Int]
        let pieces: [String]?
    }

    func run() throws {
        do {
            let path = try model ?? DefaultModel.path()
            // The input first: a missing --file is reported before a vocabulary is read.
            let bytes: [UInt8]
            if let file {
                guard FileManager.default.fileExists(atPath: file) else { throw FormatError.missingFile(path: file) }
                do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file))) } catch {
                    throw FormatError.cannotOpen(path: file, reason: FormatError.clip(error.localizedDescription))
                }
            } else {
                bytes = Array((prompt ?? "").utf8)
            }
            let tokenizer = try Tokenizer.load(modelPath: path)
            let encoded = tokenizer.encode(bytes: bytes, parseSpecial: !noSpecial)
            let ids = noSpecial ? encoded : tokenizer.withSpecialEnds(encoded)
            let pieces = showPieces ? ids.map { tokenizer.displayPiece($0) } : nil
            if json {
                try printJSON(Output(token_ids: ids, pieces: pieces?.map(\.text)))
            } else if let pieces {
                // llama-tokenize's format; a piece that is not UTF-8 by itself is shown as hex bytes.
                var out = ""
                for (id, piece) in zip(ids, pieces) {
                    let shown = piece.validUTF8 ? "'\(piece.text)'"
                        : "'<" + piece.bytes.map { String(format: "%02x", $0) }.joined(separator: " ") + ">' (utf-8 decode failure)"
                    out += String(repeating: " ", count: max(0, 6 - String(id).count)) + "\(id) -> \(shown)\n"
                }
                FileHandle.standardOutput.write(Data(out.utf8))
            } else {
                print("[" + ids.map(String.init).joined(separator: ", ") + "]")
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            throw fail(error)
        }
    }
}
