import MoEFormats

/// A weight matrix in its stored type: `rows` rows (output features) of `cols` elements
/// (input features), row r at `base + r * rowBytes`. Rows are whole blocks, back to back.
/// Holds the mapped file (if any) alive; the bytes are read-only.
public struct WeightMatrix: @unchecked Sendable {
    public let type: TensorType
    /// Number of rows (output features).
    public let rows: Int
    /// Elements per row (input features); a multiple of `type.blockSize`.
    public let cols: Int
    /// Bytes per row: `cols / type.blockSize * type.blockBytes`.
    public let rowBytes: Int
    /// Row 0's first byte.
    public let base: UnsafeRawPointer
    /// Keeps the memory behind `base` alive (a `MappedFile`, or nil when the caller owns it).
    public let owner: AnyObject?
    /// A copy of the rows repacked (`RepackedRows`), used by `MatMul` for products on 8-bit activations: single
    /// tokens, and several where the layout serves them (`Layout.servesAll`); nil: the row-major rows serve every product.
    public private(set) var packed: RepackedRows?

    /// Wraps memory the caller keeps alive: `rows` rows of `cols` elements of `type` at `base`.
    public init(type: TensorType, rows: Int, cols: Int, base: UnsafeRawPointer, owner: AnyObject? = nil, name: String = "<matrix>") throws {
        guard type.isSupported else { throw KernelError.unsupportedType(tensor: name, type: type) }
        guard rows >= 0, cols >= 0, cols % type.blockSize == 0 else {
            throw KernelError.badShape(tensor: name, shape: [rows, cols], reason: "has rows not made of whole \(type) blocks")
        }
        self.type = type
        self.rows = rows
        self.cols = cols
        self.rowBytes = cols / type.blockSize * type.blockBytes
        self.base = base
        self.owner = owner
    }

    /// The whole tensor as a matrix: `shape.last` columns, all outer dimensions flattened into rows.
    public init(_ view: TensorView) throws {
        guard let base = view.bytes.baseAddress else {
            throw KernelError.badShape(tensor: view.name, shape: view.shape, reason: "has no bytes")
        }
        try self.init(type: view.type, rows: view.rowCount, cols: view.rowLength, base: base, owner: view.file, name: view.name)
        guard rows * rowBytes <= view.bytes.count else {
            throw KernelError.badShape(tensor: view.name, shape: view.shape, reason: "needs \(rows * rowBytes) bytes, has \(view.bytes.count)")
        }
    }

    /// Expert `expert` of a stacked `[experts, rows, cols]` tensor: rows `expert * rows ..< (expert + 1) * rows`.
    public init(_ view: TensorView, expert: Int) throws {
        guard view.shape.count == 3 else {
            throw KernelError.badShape(tensor: view.name, shape: view.shape, reason: "is not [experts, rows, cols]")
        }
        guard expert >= 0, expert < view.shape[0] else {
            throw KernelError.badShape(tensor: view.name, shape: view.shape, reason: "has no expert \(expert)")
        }
        let all = try WeightMatrix(view)
        let rows = view.shape[1]
        try self.init(type: all.type, rows: rows, cols: all.cols, base: all.base + expert * rows * all.rowBytes,
                      owner: all.owner, name: view.name)
    }

    /// This matrix with its rows also repacked (a copy of its bytes in anonymous memory): Q4_0, MXFP4, Q4_K, Q3_K
    /// and IQ4_XS, 8 rows at a time where the AVX2 level is in use, 16 where the AVX-512 one is. `servingAllOnly`: only where the copy serves every product on 8-bit
    /// activations (`Layout.servesAll`). Where it does and the rows come from a mapped file, their pages are
    /// released once repacked: the kernels no longer read them (f32 activations or the rows after the last whole
    /// group would fault them in again from the file). Unchanged for other types, fewer rows than a group, or
    /// rows too long for the kernel.
    public func withRepackedRows(servingAllOnly: Bool = false) throws -> WeightMatrix {
        guard packed == nil, let layout = RepackedRows.Layout.forType(type), rows >= layout.groupRows, cols <= layout.maxCols,
              layout.servesAll || !servingAllOnly else {
            return self
        }
        var copy = self
        let packed = try RepackedRows(self, layout: layout)
        copy.packed = packed
        if layout.servesAll, let file = owner as? MappedFile, let start = file.base {
            file.releasePages(offset: base - UnsafeRawPointer(start), count: packed.packedRows * rowBytes)
        }
        return copy
    }

    /// The same matrix at other bytes (a copy of these rows elsewhere, e.g. in the expert cache), which
    /// `owner` keeps alive (nil: the caller does). No repacked copy.
    public func rebased(to base: UnsafeRawPointer, owner: AnyObject? = nil) -> WeightMatrix {
        WeightMatrix(type: type, rows: rows, cols: cols, rowBytes: rowBytes, base: base, owner: owner)
    }

    /// The same matrix at other bytes that `RepackedRows.repackInPlace` reordered into `layout` (nil: row-major).
    public func rebased(to base: UnsafeRawPointer, repackedInPlace layout: RepackedRows.Layout?) -> WeightMatrix {
        var copy = rebased(to: base)
        if let layout { copy.packed = RepackedRows(inPlace: base, layout: layout, rows: rows, cols: cols, rowBytes: rowBytes) }
        return copy
    }

    private init(type: TensorType, rows: Int, cols: Int, rowBytes: Int, base: UnsafeRawPointer, owner: AnyObject?) {
        (self.type, self.rows, self.cols, self.rowBytes, self.base, self.owner, self.packed) = (type, rows, cols, rowBytes, base, owner, nil)
    }

    /// First byte of row `r` (0 ..< rows).
    @inline(__always)
    public func row(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }
}
