/// Writes rows for `PostgresConnection.copyFrom`, in PostgreSQL's binary COPY format.
///
/// Each value must have exactly the column's type (an `Int` goes to a `bigint` column, a `String` to a
/// text-like column): binary COPY does not convert. Valid only inside the `copyFrom` closure.
public final class PostgresCopyWriter {
    private var buffer = PostgresEncodingBuffer()
    private let columns: Int
    private let send: (UnsafeRawBufferPointer) throws -> Void
    private var isOpen = true
    /// Rows appended so far.
    public private(set) var rowCount = 0

    private static let flushThreshold = 1 << 16

    init(columns: Int, send: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.columns = columns
        self.send = send
        buffer.writeBytes(Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        buffer.writeInteger(Int32(0))  // flags
        buffer.writeInteger(Int32(0))  // header extension length
    }

    /// Appends one row; give one value per column, in the order the columns were named.
    public func appendRow<each Value: PostgresEncodable>(_ values: repeat each Value) throws {
        guard isOpen else { throw PostgresError(kind: .invalidUsage, message: "the COPY has already finished") }
        var count = 0
        for _ in repeat each values { count += 1 }
        guard count == columns else {
            throw PostgresError(kind: .invalidUsage, message: "a COPY row needs \(columns) values, got \(count)")
        }
        let rowStart = buffer.count
        buffer.writeInteger(Int16(count))
        do {
            for value in repeat each values { try appendField(value) }
        } catch {
            buffer.bytes.removeSubrange(rowStart...)
            throw PostgresError(kind: .encoding, message: "row \(rowCount + 1) of the COPY: \(error)")
        }
        rowCount += 1
        if buffer.count >= Self.flushThreshold { try flush() }
    }

    /// Appends one row of values whose number and types are known only at run time (one per column, in order).
    public func appendRow(_ values: [any PostgresEncodable]) throws {
        guard isOpen else { throw PostgresError(kind: .invalidUsage, message: "the COPY has already finished") }
        guard values.count == columns else {
            throw PostgresError(kind: .invalidUsage, message: "a COPY row needs \(columns) values, got \(values.count)")
        }
        let rowStart = buffer.count
        buffer.writeInteger(Int16(values.count))
        do {
            for value in values { try appendField(value) }
        } catch {
            buffer.bytes.removeSubrange(rowStart...)
            throw PostgresError(kind: .encoding, message: "row \(rowCount + 1) of the COPY: \(error)")
        }
        rowCount += 1
        if buffer.count >= Self.flushThreshold { try flush() }
    }

    private func appendField<Value: PostgresEncodable>(_ value: Value) throws {
        let lengthOffset = buffer.count
        buffer.writeInteger(Int32(0))
        buffer.isNull = false
        try value.encode(into: &buffer)
        if buffer.isNull {
            buffer.isNull = false
            buffer.bytes.removeSubrange((lengthOffset + 4)...)
            buffer.overwriteInt32(-1, at: lengthOffset)
        } else {
            buffer.overwriteInt32(Int32(buffer.count - lengthOffset - 4), at: lengthOffset)
        }
    }

    private func flush() throws {
        guard buffer.count > 0 else { return }
        try buffer.bytes.withUnsafeBytes { try send($0) }
        buffer.bytes.removeAll(keepingCapacity: true)
    }

    func finish() throws {
        guard isOpen else { return }
        buffer.writeInteger(Int16(-1))
        try flush()
        isOpen = false
    }

    func close() { isOpen = false }
}
