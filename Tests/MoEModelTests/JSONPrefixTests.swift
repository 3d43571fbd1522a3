import Foundation
import MoEModel
import Testing

/// The grammar behind response_format json_object: prefixes of JSON objects pass byte by byte, anything that
/// cannot continue into one is refused at the byte where it goes wrong.
struct JSONPrefixTests {
    static func accepts(_ text: String) -> (prefix: Bool, complete: Bool) {
        var p = JSONPrefix()
        let ok = p.feed(Array(text.utf8))
        return (ok, ok && p.isComplete)
    }

    static let objects = [
        #"{}"#, #" { "a" : 1 } "#, #"{"a":[1,-2.5e+3,0,0.25,1E5,true,false,null,{"b":[]},"x\"\\\/\b\f\n\r\t\u00e9"]}"#,
        "{\"k\u{e9}y\":\"\u{1F600} caf\u{e9}\"}", #"{"a":{"b":{"c":[[[]]]}}}"#, "{\n\t\"a\": -0\n}",
    ]

    @Test("whole objects complete; every prefix of one is accepted, byte by byte or at once")
    func objectsAndPrefixes() {
        for text in Self.objects {
            #expect(Self.accepts(text).complete, "\(text)")
            let bytes = Array(text.utf8)
            var p = JSONPrefix()
            for (i, b) in bytes.enumerated() {
                let fed = p.feed([b])
                #expect(fed, "\(text) at byte \(i)")
                var whole = JSONPrefix()
                let fedAtOnce = whole.feed(bytes[...i])
                #expect(fedAtOnce && p == whole)
            }
        }
    }

    @Test("refused: not an object at the top, bad numbers, bad escapes, control characters, trailing text", arguments: [
        "[1]", "\"a\"", "1", "{a:1}", "{\"a\" 1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}",
        "{\"a\":+1}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"\u{01}\"}", "{\"a\":tru}", "{\"a\":1,}", "{,}",
        "{\"a\":[1,]}", "{\"a\":[1}", "{} x", "{}{}", "{\"a\":1]", "{\"a\":nul}",
    ])
    func refused(_ text: String) {
        let r = Self.accepts(text)
        #expect(!r.complete, "\(text)")
        // A refused feed leaves the state as it was.
        var p = JSONPrefix()
        _ = p.feed(Array("{\"ok\":".utf8))
        let before = p
        if !p.feed(Array(text.utf8)) { #expect(p == before) }
    }

    @Test("prefixes that may still become objects are accepted without being complete")
    func openPrefixes() {
        for text in ["", " ", "{", "{\"a", "{\"a\":", "{\"a\":-", "{\"a\":1.", "{\"a\":1e", "{\"a\":1e-", "{\"a\":\"\\u00", "{\"a\":[", "{\"a\":t"] {
            let r = Self.accepts(text)
            #expect(r.prefix && !r.complete, "\(text)")
        }
    }

    @Test("whitespace outside strings is bounded; inside strings it is not")
    func whitespace() {
        #expect(Self.accepts(String(repeating: " ", count: JSONPrefix.maxSpaces) + "{}").complete)
        #expect(!Self.accepts(String(repeating: " ", count: JSONPrefix.maxSpaces + 1)).prefix)
        #expect(Self.accepts("{\"a\":1" + String(repeating: "\n", count: JSONPrefix.maxSpaces) + "}").complete)
        #expect(Self.accepts("{\"a\":\"" + String(repeating: " ", count: 100) + "\"}").complete)
    }

    @Test("nesting beyond maxDepth is refused (a model looping on '[' cannot grow the stack without bound)")
    func depth() {
        #expect(Self.accepts("{\"a\":" + String(repeating: "[", count: JSONPrefix.maxDepth - 1)).prefix)
        #expect(!Self.accepts("{\"a\":" + String(repeating: "[", count: JSONPrefix.maxDepth)).prefix)
    }

    /// Seeds of the differential test: no exponent that a few inserted digits could push past Double's range
    /// (Foundation refuses 1e999; RFC 8259 leaves the range to the reader).
    static let mutated = [#"{}"#, #" { "a" : 1 } "#, #"{"a":[1,-2.5,0,0.25,true,false,null,{"b":[]},"x\"\\\/\b\f\n\r\t\u00e9"]}"#]

    @Test("agrees with JSONSerialization on 20,000 random mutations of JSON objects")
    func differential() {
        var rng = SeededGenerator(seed: 11)
        let alphabet = Array("{}[]\",:0123456789.-+eE tfalsenrub\\ \n".utf8)
        var disagreements: [String] = []
        for n in 0 ..< 20_000 {
            var bytes = Array(Self.mutated[n % Self.mutated.count].utf8)
            for _ in 0 ..< 1 + Int(rng.next() % 3) {
                let at = Int(rng.next() % UInt64(bytes.count + 1)), b = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                switch rng.next() % 3 {
                case 0: bytes.insert(b, at: at)
                case 1: if at < bytes.count { bytes.remove(at: at) }
                default: if at < bytes.count { bytes[at] = b }
                }
            }
            let ours = { var p = JSONPrefix(); return p.feed(bytes) && p.isComplete }()
            // Foundation's parser accepts a trailing comma ("{"a":1,}"), which RFC 8259 does not: those mutants are
            // checked to be refused by us, not compared.
            let squeezed = String(decoding: bytes.filter { !" \n".utf8.contains($0) }, as: UTF8.self)
            let theirs = squeezed.contains(",}") || squeezed.contains(",]") ? false
                : (try? JSONSerialization.jsonObject(with: Data(bytes))) is [String: Any]
            if ours != theirs, disagreements.count < 5 { disagreements.append(String(decoding: bytes, as: UTF8.self) + " ours=\(ours)") }
        }
        #expect(disagreements.isEmpty, "\(disagreements)")
    }
}
