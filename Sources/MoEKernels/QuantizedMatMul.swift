import CKernels
import MoEFormats

extension WeightMatrix {
    /// True when `QuantizedMatMul` multiplies this matrix with 8-bit quantized activations
    /// (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS). F32/F16/BF16 matrices also work with `QuantizedMatMul`,
    /// with float activations (`QuantizedActivations` then holds plain copies).
    public var supportsQuantizedActivations: Bool {
        switch QuantizedActivations.activationType(for: type) {
        case .q8_0?, .q8_1?, .q8_K?: return true
        default: return false
        }
    }
}

/// A reusable buffer of up to `capacity` activation rows of `cols` elements, quantized as the dot
/// product of `weightType` rows wants (Q8_0 for Q8_0/Q4_0/Q5_0/IQ4_NL/MXFP4 weights, Q8_1 for Q4_1/Q5_1, Q8_K for K-quants,
/// float copies for F32/F16/BF16). Rows lie back to back, `rowBytes` each, 64-byte aligned base.
///
/// Quantize once per layer input, then multiply by every matrix of that weight type and width
/// (e.g. the gate and up projections of all experts). Not thread-safe while being written;
/// any number of threads may read it in `QuantizedMatMul.apply` meanwhile nothing writes.
public final class QuantizedActivations: @unchecked Sendable {
    /// The weight type these activations are for.
    public let weightType: TensorType
    /// What the rows are stored as: `.q8_0`, `.q8_1`, `.q8_K` or `.f32`. (Sizes come from the C
    /// kernels: a Q8_1 block is 36 bytes there, the current ggml layout.)
    public let activationType: TensorType
    /// Elements per row (the weights' `cols`).
    public let cols: Int
    /// Rows the buffer can hold.
    public let capacity: Int
    /// Bytes per quantized row.
    public let rowBytes: Int
    /// Rows written by the last `quantize` (or `gather`) call.
    public private(set) var count: Int = 0
    /// Row 0's first byte.
    public let base: UnsafeMutableRawPointer

    /// The activation type for `weightType`, nil for a type without a dot product.
    public static func activationType(for weightType: TensorType) -> TensorType? {
        let a = moe_activation_type(weightType.rawValue)
        return a < 0 ? nil : TensorType(rawValue: UInt32(a))
    }

    /// Bytes of one activation row of `cols` elements for `weightType` weights; nil when not supported
    /// or `cols` is not a whole number of the activation type's blocks.
    public static func rowBytes(for weightType: TensorType, cols: Int) -> Int? {
        guard let a = activationType(for: weightType) else { return nil }
        let b = moe_activation_row_bytes(a.rawValue, Int64(cols))
        return b < 0 ? nil : Int(b)
    }

    /// A buffer for `capacity` rows of `cols` elements to multiply with `weightType` weights.
    public init(weightType: TensorType, cols: Int, capacity: Int) throws {
        guard let a = Self.activationType(for: weightType) else {
            throw KernelError.unsupportedType(tensor: "<activations>", type: weightType)
        }
        guard capacity >= 0, let rb = Self.rowBytes(for: weightType, cols: cols) else {
            throw KernelError.badShape(tensor: "<activations>", shape: [capacity, cols],
                                       reason: "is not rows of whole \(a) blocks")
        }
        self.weightType = weightType
        self.activationType = a
        self.cols = cols
        self.capacity = capacity
        self.rowBytes = rb
        self.base = .allocate(byteCount: max(64, rb * capacity), alignment: 64)
    }

    /// A buffer shaped for `w` (its type and `cols`).
    public convenience init(for w: WeightMatrix, capacity: Int) throws {
        try self.init(weightType: w.type, cols: w.cols, capacity: capacity)
    }

    deinit { base.deallocate() }

    /// First byte of row `i`.
    @inline(__always)
    public func row(_ i: Int) -> UnsafeRawPointer { UnsafeRawPointer(base + i * rowBytes) }

    /// Quantizes `n` rows of `cols` floats at `x` (back to back) into rows 0 ..< n; `count` becomes n.
    public func quantize(_ x: UnsafePointer<Float>, rows n: Int) {
        precondition(n >= 0 && n <= capacity, "QuantizedActivations.quantize: \(n) rows, capacity \(capacity)")
        let rc = moe_quantize_activations(activationType.rawValue, x, base, Int64(n * cols))
        precondition(rc == 0, "QuantizedActivations.quantize: kernel refused \(activationType) × \(n * cols)")
        count = n
    }

    /// Quantizes one row of `cols` floats into row `i` (leaves `count` alone).
    public func quantize(row i: Int, from x: UnsafePointer<Float>) {
        precondition(i >= 0 && i < capacity, "QuantizedActivations.quantize(row:): row \(i) of \(capacity)")
        let rc = moe_quantize_activations(activationType.rawValue, x, base + i * rowBytes, Int64(cols))
        precondition(rc == 0, "QuantizedActivations.quantize(row:): kernel refused \(activationType) × \(cols)")
    }

    /// Copies rows `rows[k]` of `source` into rows k (tokens routed to one expert, quantized once for
    /// all experts): no requantization. `count` becomes `rows.count`.
    public func gather(from source: QuantizedActivations, rows: some Collection<Int>) {
        precondition(source.activationType == activationType && source.cols == cols,
                     "QuantizedActivations.gather: \(source.activationType)×\(source.cols) into \(activationType)×\(cols)")
        precondition(rows.count <= capacity, "QuantizedActivations.gather: \(rows.count) rows, capacity \(capacity)")
        var k = 0
        for r in rows {
            precondition(r >= 0 && r < source.capacity, "QuantizedActivations.gather: row \(r) of \(source.capacity)")
            (base + k * rowBytes).copyMemory(from: source.row(r), byteCount: rowBytes)
            k += 1
        }
        count = rows.count
    }
}

/// y = x · Wᵀ on quantized activations, the weight rows read in their stored type (no dequantized
/// tiles). Single-threaded: the caller splits `rows` between its threads.
public enum QuantizedMatMul {
    /// y[t * yStride + r] = Σ_c w[r, c] · x̂[t, c] for t < n, r in `rows` (x̂: row t of `xq`).
    /// Nothing else of y is written, so threads may share y with disjoint row ranges.
    ///
    /// - xq: activations quantized for `w.type` with `xq.cols == w.cols`, at least n rows.
    /// - y: the output's row 0, column 0 (not offset by `rows.lowerBound`); yStride ≥ `rows.upperBound`.
    ///
    /// Each output equals the single dot product of its row and token, bit for bit, whatever `rows`
    /// and n are (F32 weights excepted: they go through the float gemm).
    public static func apply(w: WeightMatrix, xq: QuantizedActivations, n: Int, y: UnsafeMutablePointer<Float>,
                             yStride: Int, rows: Range<Int>) {
        // Activations of the same type serve several weight types (Q8_0 for both Q8_0 and Q4_0 weights).
        precondition(QuantizedActivations.activationType(for: w.type) == xq.activationType,
                     "QuantizedMatMul.apply: \(xq.activationType) activations, \(w.type) weights")
        precondition(xq.cols == w.cols, "QuantizedMatMul.apply: activations of \(xq.cols), weights of \(w.cols) columns")
        precondition(n >= 0 && n <= xq.capacity, "QuantizedMatMul.apply: n \(n), capacity \(xq.capacity)")
        precondition(rows.lowerBound >= 0 && rows.upperBound <= w.rows && yStride >= rows.upperBound,
                     "QuantizedMatMul.apply: rows \(rows) of \(w.rows), yStride \(yStride)")
        if n == 0 || rows.isEmpty { return }
        let rc = moe_matmul_q(w.type.rawValue, Int64(rows.count), Int64(n), Int64(w.cols), w.row(rows.lowerBound),
                              w.rowBytes, xq.base, y + rows.lowerBound, Int64(yStride))
        precondition(rc == 0, "QuantizedMatMul.apply: kernel refused \(w.type) \(w.rows)×\(w.cols)")
    }

    /// All rows, y with stride `w.rows`.
    public static func apply(w: WeightMatrix, xq: QuantizedActivations, n: Int, y: UnsafeMutablePointer<Float>) {
        apply(w: w, xq: xq, n: n, y: y, yStride: w.rows, rows: 0 ..< w.rows)
    }

    /// The scalar reference code for the same product (tests, debugging).
    public static func applyGeneric(w: WeightMatrix, xq: QuantizedActivations, n: Int, y: UnsafeMutablePointer<Float>,
                                    yStride: Int, rows: Range<Int>) {
        precondition(QuantizedActivations.activationType(for: w.type) == xq.activationType && xq.cols == w.cols
                     && n >= 0 && n <= xq.capacity && rows.lowerBound >= 0 && rows.upperBound <= w.rows
                     && yStride >= rows.upperBound, "QuantizedMatMul.applyGeneric: bad operands")
        if n == 0 || rows.isEmpty { return }
        let rc = moe_matmul_q_generic(w.type.rawValue, Int64(rows.count), Int64(n), Int64(w.cols), w.row(rows.lowerBound),
                                      w.rowBytes, xq.base, y + rows.lowerBound, Int64(yStride))
        precondition(rc == 0, "QuantizedMatMul.applyGeneric: kernel refused \(w.type) \(w.rows)×\(w.cols)")
    }
}
