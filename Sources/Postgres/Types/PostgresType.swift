/// A PostgreSQL type, identified by its OID.
public struct PostgresType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Lets the server infer the parameter's type from the statement (used for strings).
    @inlinable public static var unspecified: PostgresType { PostgresType(rawValue: 0) }
    @inlinable public static var bool: PostgresType { PostgresType(rawValue: 16) }
    @inlinable public static var bytea: PostgresType { PostgresType(rawValue: 17) }
    @inlinable public static var char: PostgresType { PostgresType(rawValue: 18) }
    @inlinable public static var name: PostgresType { PostgresType(rawValue: 19) }
    @inlinable public static var int8: PostgresType { PostgresType(rawValue: 20) }
    @inlinable public static var int2: PostgresType { PostgresType(rawValue: 21) }
    @inlinable public static var int4: PostgresType { PostgresType(rawValue: 23) }
    @inlinable public static var text: PostgresType { PostgresType(rawValue: 25) }
    @inlinable public static var oid: PostgresType { PostgresType(rawValue: 26) }
    @inlinable public static var json: PostgresType { PostgresType(rawValue: 114) }
    @inlinable public static var xml: PostgresType { PostgresType(rawValue: 142) }
    @inlinable public static var float4: PostgresType { PostgresType(rawValue: 700) }
    @inlinable public static var float8: PostgresType { PostgresType(rawValue: 701) }
    @inlinable public static var unknown: PostgresType { PostgresType(rawValue: 705) }
    @inlinable public static var bpchar: PostgresType { PostgresType(rawValue: 1042) }
    @inlinable public static var varchar: PostgresType { PostgresType(rawValue: 1043) }
    @inlinable public static var date: PostgresType { PostgresType(rawValue: 1082) }
    @inlinable public static var time: PostgresType { PostgresType(rawValue: 1083) }
    @inlinable public static var timestamp: PostgresType { PostgresType(rawValue: 1114) }
    @inlinable public static var timestamptz: PostgresType { PostgresType(rawValue: 1184) }
    @inlinable public static var interval: PostgresType { PostgresType(rawValue: 1186) }
    @inlinable public static var numeric: PostgresType { PostgresType(rawValue: 1700) }
    @inlinable public static var uuid: PostgresType { PostgresType(rawValue: 2950) }
    @inlinable public static var jsonb: PostgresType { PostgresType(rawValue: 3802) }

    @inlinable public static var boolArray: PostgresType { PostgresType(rawValue: 1000) }
    @inlinable public static var byteaArray: PostgresType { PostgresType(rawValue: 1001) }
    @inlinable public static var nameArray: PostgresType { PostgresType(rawValue: 1003) }
    @inlinable public static var int2Array: PostgresType { PostgresType(rawValue: 1005) }
    @inlinable public static var int4Array: PostgresType { PostgresType(rawValue: 1007) }
    @inlinable public static var textArray: PostgresType { PostgresType(rawValue: 1009) }
    @inlinable public static var bpcharArray: PostgresType { PostgresType(rawValue: 1014) }
    @inlinable public static var varcharArray: PostgresType { PostgresType(rawValue: 1015) }
    @inlinable public static var int8Array: PostgresType { PostgresType(rawValue: 1016) }
    @inlinable public static var float4Array: PostgresType { PostgresType(rawValue: 1021) }
    @inlinable public static var float8Array: PostgresType { PostgresType(rawValue: 1022) }
    @inlinable public static var dateArray: PostgresType { PostgresType(rawValue: 1182) }
    @inlinable public static var timestamptzArray: PostgresType { PostgresType(rawValue: 1185) }
    @inlinable public static var numericArray: PostgresType { PostgresType(rawValue: 1231) }
    @inlinable public static var uuidArray: PostgresType { PostgresType(rawValue: 2951) }
    @inlinable public static var jsonbArray: PostgresType { PostgresType(rawValue: 3807) }

    private static let names: [UInt32: String] = [
        0: "unspecified", 16: "bool", 17: "bytea", 18: "char", 19: "name", 20: "int8", 21: "int2", 23: "int4",
        25: "text", 26: "oid", 114: "json", 142: "xml", 700: "float4", 701: "float8", 705: "unknown",
        1042: "bpchar", 1043: "varchar", 1082: "date", 1083: "time", 1114: "timestamp", 1184: "timestamptz",
        1186: "interval", 1700: "numeric", 2950: "uuid", 3802: "jsonb",
        1000: "bool[]", 1001: "bytea[]", 1003: "name[]", 1005: "int2[]", 1007: "int4[]", 1009: "text[]",
        1014: "bpchar[]", 1015: "varchar[]", 1016: "int8[]", 1021: "float4[]", 1022: "float8[]",
        1182: "date[]", 1185: "timestamptz[]", 1231: "numeric[]", 2951: "uuid[]", 3807: "jsonb[]",
    ]

    public var description: String { Self.names[rawValue] ?? "oid \(rawValue)" }

    /// Built-in types whose binary form is their UTF-8 text.
    var isTextual: Bool {
        switch self {
        case .text, .varchar, .bpchar, .name, .unknown, .xml, .char: true
        default: false
        }
    }

    /// Types created in the database (enums, domains over them, extension types), whose binary form this
    /// client cannot know in advance.
    var isUserDefined: Bool { rawValue >= 16384 }
}

/// How a value travels on the wire.
public enum PostgresFormat: Int32, Sendable {
    case text = 0
    case binary = 1
}
