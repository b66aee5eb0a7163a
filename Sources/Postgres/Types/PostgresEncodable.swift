/// A Swift value that can be sent to PostgreSQL as a bound parameter (`$1`, `$2`, ...).
public protocol PostgresEncodable: Sendable {
    /// The parameter type announced to the server (`.unspecified` lets the server infer it).
    static var postgresType: PostgresType { get }
    /// The wire format of `encode(into:)`'s output.
    static var postgresFormat: PostgresFormat { get }
    /// Writes the value's bytes; call `buffer.markNull()` instead to send SQL NULL.
    func encode(into buffer: inout PostgresEncodingBuffer) throws
}

extension PostgresEncodable {
    public static var postgresFormat: PostgresFormat { .binary }
}

/// A growing byte buffer that encoders write into, with big-endian helpers.
public struct PostgresEncodingBuffer: Sendable {
    var bytes: [UInt8]
    var isNull = false

    init(bytes: [UInt8] = []) { self.bytes = bytes }

    public mutating func markNull() { isNull = true }

    public mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeBytes<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        bytes.append(contentsOf: sequence)
    }

    public mutating func writeString(_ string: String) {
        var string = string
        string.withUTF8 { bytes.append(contentsOf: $0) }
    }

    var count: Int { bytes.count }

    mutating func overwriteInt32(_ value: Int32, at offset: Int) {
        let big = value.bigEndian
        withUnsafeBytes(of: big) { raw in
            for index in 0..<4 { bytes[offset + index] = raw[index] }
        }
    }
}
