// TEMPORARY scalar stand-in (replaced by the kernels branch): same API, F32/F16/BF16 only.
import CKernels
import MoEFormats

public enum Dequantize {
    public static func row(type: TensorType, src: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>, count: Int) {
        switch type {
        case .f32: for i in 0 ..< count { dst[i] = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .bf16: for i in 0 ..< count { dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case .f16: for i in 0 ..< count { dst[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        default: fatalError("temp")
        }
    }
}

public struct WeightMatrix: @unchecked Sendable {
    public let type: TensorType
    public let rows: Int
    public let cols: Int
    public let rowBytes: Int
    public let base: UnsafeRawPointer
    public init(_ view: TensorView) {
        type = view.type; rows = view.rowCount; cols = view.rowLength; rowBytes = view.rowBytes; base = view.bytes.baseAddress!
    }
    public init(stacked view: TensorView, index: Int) {
        type = view.type; rows = view.shape[view.shape.count - 2]; cols = view.rowLength; rowBytes = view.rowBytes
        base = view.bytes.baseAddress! + index * rows * rowBytes
    }
    public func row(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }
}

public enum MatMul {
    public static func apply(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>) {
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: w.cols)
        defer { tmp.deallocate() }
        for r in 0 ..< w.rows {
            Dequantize.row(type: w.type, src: w.row(r), dst: tmp, count: w.cols)
            for t in 0 ..< n {
                var s: Float = 0
                let xt = x + t * w.cols
                for k in 0 ..< w.cols { s += tmp[k] * xt[k] }
                y[t * w.rows + r] = s
            }
        }
    }
}
