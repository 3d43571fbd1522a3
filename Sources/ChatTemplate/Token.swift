/// One lexical token of a template. Text between tags is already whitespace-controlled (trim_blocks,
/// lstrip_blocks, `-` markers), so the parser never looks at whitespace.
enum TokenKind: Equatable {
    case text(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    /// Punctuation and operators: + - * / // % ** ~ == != < <= > >= = . : | , ( ) [ ] { }
    case op(String)
    case eof
}

struct Token {
    var kind: TokenKind
    var position: SourcePosition

    var describe: String {
        switch kind {
        case .text: return "template text"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let n): return "'\(n)'"
        case .string: return "string literal"
        case .integer(let i): return "'\(i)'"
        case .float(let d): return "'\(d)'"
        case .op(let o): return "'\(o)'"
        case .eof: return "end of template"
        }
    }
}
