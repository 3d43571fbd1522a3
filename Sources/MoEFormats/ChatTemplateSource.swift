import Foundation

/// Where a model keeps its chat template (a Jinja program; ChatTemplate renders it), and the template's text.
public struct ChatTemplateSource: Sendable, Equatable {
    public var text: String
    /// Where it was read: "GGUF tokenizer.chat_template", a file path, or a file and key.
    public var origin: String

    public init(text: String, origin: String) {
        self.text = text
        self.origin = origin
    }

    /// GGUF metadata `tokenizer.chat_template`, as llama.cpp's converter writes it (nil: the file has none).
    public static func find(gguf: GGUFFile) -> ChatTemplateSource? {
        guard let text = gguf.metadata["tokenizer.chat_template"]?.string, !text.isEmpty else { return nil }
        return ChatTemplateSource(text: text, origin: "\(gguf.path) (tokenizer.chat_template)")
    }

    /// A Hugging Face folder's template, in the order transformers reads them: `chat_template.jinja` (since
    /// transformers 4.43 saved beside the tokenizer), `chat_template.json` `{"chat_template": …}`, then
    /// `tokenizer_config.json`'s `chat_template` — a string, or a list of `{name, template}` of which the one
    /// named "default" is the chat template. nil when none of them has one.
    public static func find(folder: String) throws -> ChatTemplateSource? {
        let jinja = folder + "/chat_template.jinja"
        if let data = FileManager.default.contents(atPath: jinja) {
            return ChatTemplateSource(text: String(decoding: data, as: UTF8.self), origin: jinja)
        }
        for (name, key) in [("chat_template.json", "chat_template"), ("tokenizer_config.json", "chat_template")] {
            let path = folder + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw FormatError.malformed(path: path, what: "not a JSON object")
            }
            switch root[key] {
            case let text as String:
                return ChatTemplateSource(text: text, origin: "\(path) (\(key))")
            case let named as [[String: Any]]:
                if let entry = named.first(where: { $0["name"] as? String == "default" }), let text = entry["template"] as? String {
                    return ChatTemplateSource(text: text, origin: "\(path) (\(key), default)")
                }
            default:
                continue
            }
        }
        return nil
    }
}
