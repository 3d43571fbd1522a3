import ArgumentParser
import ChatTemplate
import Foundation

struct Template: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a chat template (Jinja2, as Hugging Face transformers renders chat_template) with a JSON context.",
        discussion: """
        The keys of the --context JSON object become the template's variables, in
        transformers' environment: trim_blocks, lstrip_blocks, loop controls, the
        sandbox that refuses list.append and friends, raise_exception(msg),
        strftime_now(fmt) and transformers' tojson (ensure_ascii=False, no HTML
        escaping). Give "tools": null when there are none, as transformers does.
        Key order in the JSON is kept (tojson prints tool schemas in file order).

        The rendered text goes to stdout exactly, with no newline added. A template
        error exits 1 with one line: moe: error: FILE:LINE:COL: message.

        Example:
          echo '{"messages": [{"role": "user", "content": "Hi"}],
                 "tools": null, "add_generation_prompt": true}' > ctx.json
          moe template --template Qwen3.jinja --context ctx.json
            <|im_start|>user
            Hi<|im_end|>
            <|im_start|>assistant
        """
    )

    @Option(help: "The template file (e.g. a model's chat_template saved as .jinja).")
    var template: String

    @Option(help: "A JSON object whose keys are the template's variables.")
    var context: String

    @Option(help: "The date strftime_now formats, YYYY-MM-DD (default: today).")
    var now: String?

    func run() throws {
        do {
            try render()
        } catch let e as CommandError {
            throw fail(e)
        }
    }

    /// A failure with the file it is about; printed as `FILE:LINE:COL: message` when it has a position.
    struct CommandError: Error, CustomStringConvertible {
        let description: String
        init(_ path: String, _ error: Error) {
            if let e = error as? TemplateError {
                description = e.line > 0 ? "\(path):\(e.line):\(e.column): \(e.message)" : "\(path): \(e.message)"
            } else {
                description = "\(path): \(error.localizedDescription)"
            }
        }
        init(_ description: String) { self.description = description }
    }

    private func render() throws {
        var date: Date?
        if let now {
            let parts = now.split(separator: "-").compactMap { Int($0) }
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = TimeZone(identifier: "UTC")!
            guard parts.count == 3, now.count == 10,
                  let d = utc.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])),
                  utc.component(.day, from: d) == parts[2] else {
                throw CommandError("--now \(now): expected a date YYYY-MM-DD")
            }
            date = d
        }
        let source: String, contextText: String
        do { source = try String(contentsOfFile: template, encoding: .utf8) } catch { throw CommandError("cannot read \(template): not a readable UTF-8 file") }
        do { contextText = try String(contentsOfFile: context, encoding: .utf8) } catch { throw CommandError("cannot read \(context): not a readable UTF-8 file") }
        let value: JinjaValue
        do { value = try JinjaValue.parseJSON(contextText) } catch { throw CommandError(context, error) }
        guard case .object(let object) = value else { throw CommandError("\(context): the context must be a JSON object") }
        var variables: [String: JinjaValue] = [:]
        for (k, v) in object.pairs { variables[k.pythonString] = v }
        let text: String
        do {
            text = try ChatTemplate(source: source).render(variables, now: date)
        } catch {
            throw CommandError(template, error)
        }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
