/// Element types of tensors, numbered as ggml numbers them (GGUF stores these raw values).
/// Quantized types store blocks: `blockSize` elements in `blockBytes` bytes.
public enum TensorType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case iq4_xs = 23
    /// Raw bytes: safetensors `U8`/`I8` tensors (gpt-oss's MXFP4 blocks and scales before they are repacked).
    case i8 = 24
    case iq4_nl = 20
    case bf16 = 30
    case mxfp4 = 39

    /// Elements per block (1 for plain float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .i8: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1: return 32
        case .iq4_nl, .mxfp4: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: return 256
        case .iq4_xs: return 256
        }
    }

    /// Bytes per block. Layouts follow ggml's block structs (see Docs/FORMATS.md).
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .i8: return 1
        case .q4_0: return 2 + 16          // f16 d, 32 × 4-bit
        case .q4_1: return 2 + 2 + 16      // f16 d, f16 m, 32 × 4-bit
        case .q5_0: return 2 + 4 + 16      // f16 d, 32 fifth bits, 32 × 4-bit
        case .q5_1: return 2 + 2 + 4 + 16  // f16 d, f16 m, 32 fifth bits, 32 × 4-bit
        case .q8_0: return 2 + 32          // f16 d, 32 × int8
        case .q8_1: return 4 + 4 + 32
        case .q2_K: return 256 / 16 + 256 / 4 + 2 + 2 // 4-bit scale|min per 16, 256 × 2-bit, f16 d, f16 dmin
        case .q3_K: return 256 / 8 + 256 / 4 + 12 + 2  // high bits, 256 × 2-bit, 16 six-bit scales, f16 d
        case .q4_K: return 2 + 2 + 12 + 128 // d, dmin, 12 bytes of 6-bit scales/mins, 256 × 4-bit
        case .q5_K: return 2 + 2 + 12 + 32 + 128
        case .q6_K: return 128 + 64 + 16 + 2 // ql, qh, int8 scales, f16 d
        case .q8_K: return 4 + 256 + 32
        case .iq4_xs: return 2 + 2 + 4 + 128 // f16 d, 8 six-bit scales (2 + 4 bytes), 256 × 4-bit table indices
        case .iq4_nl: return 2 + 16        // f16 d, 32 × 4-bit table indices
        case .mxfp4: return 1 + 16         // E8M0 exponent, 32 × 4-bit E2M1 codes
        }
    }

    /// Types the engine can compute with (dequantize); the others are recognised but refused.
    public var isSupported: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q4_K, .q5_K, .q6_K: return true
        case .q2_K, .q3_K, .iq4_xs: return true
        case .q5_0, .q5_1, .iq4_nl, .mxfp4: return true
        default: return false
        }
    }

    public var isQuantized: Bool { blockSize > 1 }

    /// Bytes taken by `count` elements; nil when `count` is not a whole number of blocks.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (r, overflow) = (count / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : r
    }

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .q8_K: return "Q8_K"
        case .iq4_xs: return "IQ4_XS"
        case .i8: return "I8"
        case .iq4_nl: return "IQ4_NL"
        case .mxfp4: return "MXFP4"
        }
    }

    public init?(name: String) {
        guard let t = TensorType.allCases.first(where: { $0.description == name.uppercased() }) else { return nil }
        self = t
    }
}

/// A tensor's bytes in a mapped file, with its type and shape.
/// `shape` is outermost first (PyTorch order): a weight `[out, in]` has `shape[last]` = row length.
public struct TensorView: @unchecked Sendable {
    public let name: String
    public let type: TensorType
    public let shape: [Int]
    /// The tensor's bytes, inside `file`'s mapping.
    public let bytes: UnsafeRawBufferPointer
    /// Keeps the mapping alive.
    public let file: MappedFile

    public init(name: String, type: TensorType, shape: [Int], bytes: UnsafeRawBufferPointer, file: MappedFile) {
        self.name = name
        self.type = type
        self.shape = shape
        self.bytes = bytes
        self.file = file
    }

    public var elementCount: Int { shape.reduce(1, *) }
    /// Length of the innermost dimension (a row), in elements.
    public var rowLength: Int { shape.last ?? 1 }
    /// Number of rows (product of all but the innermost dimension).
    public var rowCount: Int { shape.dropLast().reduce(1, *) }
    /// Bytes per row.
    public var rowBytes: Int { rowLength / type.blockSize * type.blockBytes }
}
