import CKernels
import MoEFormats

/// Facts about, and switches for, the C kernels under this module.
public enum Kernels {
    /// CPU features the kernels use, e.g. "avx2 fma f16c", "neon", or "generic".
    public static var features: String { String(cString: moe_kernels_features()) }

    /// Kernel levels this CPU runs, from the scalar reference up: 0 generic, 1 the base SIMD set (AVX2 + FMA +
    /// F16C, or NEON), 2 AVX-512 VNNI (MXFP4 and Q4_K). The dispatched kernels use the last. Within a level
    /// every output of a product has the same bits whatever the tile or batch; levels differ by rounding.
    public static var levels: ClosedRange<Int> { 0 ... Int(moe_kernels_best_level()) }

    /// The CPU features of one level, e.g. "avx2 fma f16c" (nil when this CPU lacks it).
    public static func features(level: Int) -> String? {
        moe_kernels_level_features(Int32(level)).map { String(cString: $0) }
    }

    /// True when the several-token products (prefill) on Q4_0, MXFP4, Q8_0 and Q4_K weights run on AMX tiles: the CPU has
    /// AMX-INT8, Linux granted the tile state, and neither `SWIFTMOE_AMX=0` nor `useAMX(false)` turned them off.
    /// The tiles give the AVX-512 kernels' bits, so this changes speed only.
    public static var amxActive: Bool { moe_kernels_amx() != 0 }

    /// Turns the AMX tiles on or off (process-wide; for benchmarks and tests). No effect where the CPU lacks them.
    public static func useAMX(_ on: Bool) { moe_kernels_use_amx(on ? 1 : 0) }

    /// True when SIMD code is in use (the CPU supports it and `forceGeneric` is off).
    public static var simdActive: Bool { moe_kernels_simd_active() != 0 }

    /// Makes every kernel use its scalar reference code (process-wide; for benchmarks and
    /// debugging). Tests comparing the two paths call the explicit generic functions instead.
    public static func forceGeneric(_ on: Bool) { moe_kernels_force_generic(on ? 1 : 0) }

    /// Σ of `count` bytes at p, read front to back as fast as one core can: the yardstick of the
    /// matrix-vector kernels' bandwidth (moe-bench kernels).
    public static func streamSum(_ p: UnsafeRawPointer, count: Int) -> UInt64 { moe_stream_sum(p, count) }

    /// Σ a[i] · b[i] over `count` floats, in SIMD (8 lanes, FMA), so the sum's order differs from a
    /// left-to-right loop's by rounding only.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        moe_dot_f32(a, b, Int64(count))
    }

    /// out[0 ..< count] = Σ_{j = first … last} weights[j] · rows[(j % ring) · stride ..< + count]: attention's sum of
    /// cached values. Each element is summed in j order as out + w·v (multiply, then add), the bits of the plain loop
    /// on every CPU; the SIMD code keeps 64 outputs in registers while the rows stream past.
    @inline(__always)
    public static func weightedRows(into out: UnsafeMutablePointer<Float>, weights: UnsafePointer<Float>, rows: UnsafePointer<Float>,
                                    stride: Int, ring: Int, first: Int, last: Int, count: Int) {
        moe_weighted_rows_f32(out, weights, rows, Int64(stride), Int64(ring), Int64(first), Int64(last), Int64(count))
    }
}

/// Problems with weights handed to the kernels.
public enum KernelError: Error, CustomStringConvertible, Equatable, Sendable {
    case unsupportedType(tensor: String, type: TensorType)
    case badShape(tensor: String, shape: [Int], reason: String)

    public var description: String {
        switch self {
        case let .unsupportedType(t, type): return "tensor '\(t)': type \(type) is not supported by the kernels"
        case let .badShape(t, shape, reason): return "tensor '\(t)': shape \(shape) \(reason)"
        }
    }
}
