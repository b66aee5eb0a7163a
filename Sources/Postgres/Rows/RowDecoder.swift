#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One value to decode: a cell of a result, or an element of an array cell.
struct CellSource {
    let result: ResultBox
    let column: Int
    let type: PostgresType
    let bytes: UnsafeRawBufferPointer?

    init(result: ResultBox, row: Int, column: Int) {
        self.result = result
        self.column = column
        type = result.columnType(column)
        bytes = result.bytes(row: row, column: column)
    }

    init(result: ResultBox, column: Int, type: PostgresType, bytes: UnsafeRawBufferPointer?) {
        self.result = result
        self.column = column
        self.type = type
        self.bytes = bytes
    }

    var value: PostgresValue { PostgresValue(result: result, column: column, type: type, bytes: bytes) }

    /// Decodes any `Decodable`: a json/jsonb column through JSONDecoder (unless a String or JSONB is
    /// asked for), other PostgreSQL types directly, anything else (such as a `String`-backed enum) through
    /// a single-value decoder over this cell.
    func decode<T: Decodable>(_ type: T.Type, codingPath: [any CodingKey]) throws -> T {
        let isJSON = (self.type == .json || self.type == .jsonb) && bytes != nil
        if let postgresType = T.self as? any PostgresDecodable.Type, !isJSON || postgresType is any PostgresJSONText.Type {
            func open<P: PostgresDecodable>(_ p: P.Type) throws -> Any { try withExtendedLifetime(result) { try P.decode(from: value) } }
            guard let decoded = try open(postgresType) as? T else {
                throw value.error(decoding: T.self, "internal type mismatch")
            }
            return decoded
        }
        if isJSON {
            let text = try String.decode(from: value)
            do {
                return try JSONDecoder().decode(T.self, from: Data(text.utf8))
            } catch {
                throw value.error(decoding: T.self, "invalid JSON: \(error)")
            }
        }
        return try withExtendedLifetime(result) { try T(from: CellDecoder(cell: self, codingPath: codingPath)) }
    }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        try withExtendedLifetime(result) { try Postgres.decodeInteger(value, as: T.self) }
    }
}

/// Decodes a row into a `Decodable` type, matching coding keys to column names.
struct RowDecoder: Decoder {
    let result: ResultBox
    let row: Int
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(RowContainer<Key>(result: result, row: row, codingPath: codingPath))
    }

    /// Columns in order, for positional decoding.
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        ColumnsContainer(result: result, row: row, codingPath: codingPath)
    }

    /// A one-column row decodes as a single value.
    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        guard result.columnCount == 1 else {
            throw PostgresDecodingError(column: "*", columnType: .unspecified, swiftType: "a single value",
                                        reason: "the row has \(result.columnCount) columns")
        }
        return CellDecoder(cell: CellSource(result: result, row: row, column: 0), codingPath: codingPath)
    }
}

private struct RowContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let result: ResultBox
    let row: Int
    var codingPath: [any CodingKey]

    /// The column for a key: its exact name, else its snake_case form (`createdAt` -> `created_at`).
    private func column(for key: Key) -> Int? {
        result.columnIndex(named: key.stringValue) ?? result.columnIndex(named: snakeCase(key.stringValue))
    }

    private func cell(_ key: Key) throws -> CellSource {
        guard let column = column(for: key) else {
            throw PostgresDecodingError(column: key.stringValue, columnType: .unspecified, swiftType: "a property",
                                        reason: "no such column in the result")
        }
        return CellSource(result: result, row: row, column: column)
    }

    var allKeys: [Key] { result.columnNames.compactMap { Key(stringValue: $0) } }
    func contains(_ key: Key) -> Bool { column(for: key) != nil }
    func decodeNil(forKey key: Key) throws -> Bool { try cell(key).bytes == nil }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try cell(key).decode(type, codingPath: codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try cell(key).decode(type, codingPath: codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try cell(key).decode(type, codingPath: codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try cell(key).decode(type, codingPath: codingPath + [key]) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try cell(key).decode(type, codingPath: codingPath + [key]) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try cell(key).decodeInteger(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try cell(key).decode(type, codingPath: codingPath + [key]) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try cell(key).decode(type, codingPath: codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try cell(key).decode(type, codingPath: codingPath + [key]) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try cell(key).decodeInteger(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try cell(key).decodeInteger(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try cell(key).decodeInteger(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try cell(key).decodeInteger(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try cell(key).decodeInteger(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try cell(key).decode(type, codingPath: codingPath + [key]) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        throw PostgresDecodingError(column: key.stringValue, columnType: .unspecified, swiftType: "a nested container",
                                    reason: "a column holds one value; use jsonb for nested objects")
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try CellDecoder(cell: cell(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { RowDecoder(result: result, row: row, codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> any Decoder { RowDecoder(result: result, row: row, codingPath: codingPath + [key]) }
}

/// Converts a camelCase name to snake_case.
func snakeCase(_ name: String) -> String {
    var output = ""
    output.reserveCapacity(name.utf8.count + 4)
    for character in name {
        if character.isUppercase {
            if !output.isEmpty { output.append("_") }
            output += character.lowercased()
        } else {
            output.append(character)
        }
    }
    return output
}

private struct IndexKey: CodingKey {
    var stringValue: String { "\(intValue ?? 0)" }
    var intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

/// A single cell seen as a `Decoder`: single values, and arrays as unkeyed containers.
struct CellDecoder: Decoder, SingleValueDecodingContainer {
    let cell: CellSource
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        throw cell.value.error(decoding: type, "a column holds one value; use jsonb for objects")
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try ArrayContainer(cell: cell, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { cell.bytes == nil }
    func decode(_ type: Bool.Type) throws -> Bool { try cell.decode(type, codingPath: codingPath) }
    func decode(_ type: String.Type) throws -> String { try cell.decode(type, codingPath: codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try cell.decode(type, codingPath: codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try cell.decode(type, codingPath: codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try cell.decode(type, codingPath: codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try cell.decodeInteger(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try cell.decode(type, codingPath: codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try cell.decode(type, codingPath: codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try cell.decode(type, codingPath: codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try cell.decodeInteger(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try cell.decodeInteger(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try cell.decodeInteger(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try cell.decodeInteger(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try cell.decodeInteger(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try cell.decode(type, codingPath: codingPath) }
}

/// The columns of a row, in order.
private struct ColumnsContainer: UnkeyedDecodingContainer {
    let result: ResultBox
    let row: Int
    var codingPath: [any CodingKey]
    var currentIndex = 0
    var count: Int? { result.columnCount }
    var isAtEnd: Bool { currentIndex >= result.columnCount }

    init(result: ResultBox, row: Int, codingPath: [any CodingKey]) {
        self.result = result
        self.row = row
        self.codingPath = codingPath
    }

    private mutating func next() throws -> CellDecoder {
        guard !isAtEnd else {
            throw PostgresDecodingError(column: "#\(currentIndex)", columnType: .unspecified, swiftType: "a value",
                                        reason: "the row has only \(result.columnCount) columns")
        }
        defer { currentIndex += 1 }
        return CellDecoder(cell: CellSource(result: result, row: row, column: currentIndex),
                           codingPath: codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, result.isNull(row: row, column: currentIndex) else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next() }
}

/// The elements of a one-dimensional array cell.
private struct ArrayContainer: UnkeyedDecodingContainer {
    let cell: CellSource
    var codingPath: [any CodingKey]
    let array: BinaryArray
    var currentIndex = 0
    var count: Int? { array.elements.count }
    var isAtEnd: Bool { currentIndex >= array.elements.count }

    init(cell: CellSource, codingPath: [any CodingKey]) throws {
        self.cell = cell
        self.codingPath = codingPath
        array = try BinaryArray(cell.value, for: [String].self)
    }

    private mutating func next() throws -> CellDecoder {
        guard !isAtEnd else { throw cell.value.error(decoding: [String].self, "read past the end of the array") }
        defer { currentIndex += 1 }
        let element = CellSource(result: cell.result, column: cell.column, type: array.elementType, bytes: array.elements[currentIndex])
        return CellDecoder(cell: element, codingPath: codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, array.elements[currentIndex] == nil else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next() }
}
