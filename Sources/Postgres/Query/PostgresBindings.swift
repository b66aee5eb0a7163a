/// The parameters of a query, encoded once, in order (`$1`, `$2`, ...).
public struct PostgresBindings: Sendable {
    struct Entry: Sendable {
        var offset: Int
        /// Byte length, or -1 for NULL.
        var length: Int32
        var format: PostgresFormat
        var type: PostgresType
        /// UTF-8 offset of this parameter's `$n` in the query text (-1 when unknown), for renumbering.
        var placeholderOffset = -1
    }

    var buffer = PostgresEncodingBuffer()
    var entries: [Entry] = []
    /// The first encoding failure; reported when the query runs (string interpolation cannot throw).
    /// Kept as its message so that queries stay small to copy.
    var encodingFailure: String?

    var encodingError: PostgresError? { encodingFailure.map { PostgresError(kind: .encoding, message: $0) } }

    public init() {}

    public var count: Int { entries.count }

    public mutating func append<T: PostgresEncodable>(_ value: T) {
        let start = buffer.count
        buffer.isNull = false
        do {
            try value.encode(into: &buffer)
        } catch {
            recordError(error, parameter: entries.count + 1, type: T.self)
            buffer.bytes.removeSubrange(start...)
            buffer.markNull()
        }
        if buffer.isNull {
            buffer.isNull = false
            buffer.bytes.removeSubrange(start...)
            entries.append(Entry(offset: start, length: -1, format: T.postgresFormat, type: T.postgresType))
            return
        }
        let length = buffer.count - start
        guard let length32 = Int32(exactly: length) else {
            recordError(PostgresError(kind: .encoding, message: "value of \(length) bytes is too large"),
                        parameter: entries.count + 1, type: T.self)
            entries.append(Entry(offset: start, length: -1, format: T.postgresFormat, type: T.postgresType))
            return
        }
        // libpq reads text-format parameters as C strings.
        if T.postgresFormat == .text { buffer.bytes.append(0) }
        entries.append(Entry(offset: start, length: length32, format: T.postgresFormat, type: T.postgresType))
    }

    mutating func recordError<T>(_ error: any Error, parameter: Int, type: T.Type) {
        guard encodingFailure == nil else { return }
        let reason = (error as? PostgresError)?.message ?? "\(error)"
        encodingFailure = "parameter $\(parameter) (\(T.self)): \(reason)"
    }

    /// The parameter types, which together with the SQL text identify a prepared statement.
    var types: [UInt32] { entries.map(\.type.rawValue) }

    /// Whether the parameter types equal `types`, without building an array.
    func hasTypes(_ types: [UInt32]) -> Bool {
        guard types.count == entries.count else { return false }
        for index in entries.indices where entries[index].type.rawValue != types[index] { return false }
        return true
    }

    /// Calls `body` with the C arrays libpq expects (values, lengths, formats).
    func withLibPQArrays<R>(
        _ body: (UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) throws -> R
    ) rethrows -> R {
        let count = entries.count
        if count == 0 { return try body(nil, nil, nil) }
        // A NUL byte stands in when every value is empty, so there is always a valid base address.
        let storage = buffer.bytes.isEmpty ? [0] : buffer.bytes
        return try storage.withUnsafeBufferPointer { bytes in
            try withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: count) { values in
                try withUnsafeTemporaryAllocation(of: Int32.self, capacity: count * 2) { numbers in
                    let base = UnsafeRawPointer(bytes.baseAddress)
                    for (index, entry) in entries.enumerated() {
                        if entry.length < 0 {
                            values[index] = nil
                        } else {
                            values[index] = base.map { ($0 + min(entry.offset, bytes.count - 1)).assumingMemoryBound(to: CChar.self) }
                        }
                        numbers[index] = max(entry.length, 0)
                        numbers[count + index] = entry.format.rawValue
                    }
                    return try body(
                        UnsafePointer(values.baseAddress),
                        UnsafePointer(numbers.baseAddress),
                        numbers.baseAddress.map { UnsafePointer($0 + count) })
                }
            }
        }
    }
}

