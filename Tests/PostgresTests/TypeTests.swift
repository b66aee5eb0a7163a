import Foundation
import PDXTestSupport
import Postgres
import Testing

/// Sends `value` as a parameter, casts it to `sqlType` on the server, and reads it back.
private func roundTrip<T: PostgresCodable>(_ value: T, _ sqlType: String, on connection: PostgresConnection) async throws -> T {
    let rows = try await connection.query("SELECT \(value)::\(unsafeRaw: sqlType) AS value")
    return try rows[0].decode(T.self)
}

private struct Profile: Codable, Equatable, Sendable {
    var name: String
    var tags: [String]
    var score: Double?
}

@Suite struct TypeTests {
    @Test func integersAtTheirExtremes() async throws {
        try await withTestConnection { connection throws in
            for value in [Int64.min, -1, 0, 1, Int64.max] { #expect(try await roundTrip(value, "int8", on: connection) == value) }
            for value in [Int.min, 0, Int.max] { #expect(try await roundTrip(value, "int8", on: connection) == value) }
            for value in [Int32.min, 0, Int32.max] { #expect(try await roundTrip(value, "int4", on: connection) == value) }
            for value in [Int16.min, 0, Int16.max] { #expect(try await roundTrip(value, "int2", on: connection) == value) }
            // Narrower columns widen; wider values refuse to narrow.
            #expect(try await connection.query("SELECT 7::int2").scalar(Int.self) == 7)
            let error = await #expect(throws: PostgresDecodingError.self) {
                try await connection.query("SELECT \(Int64.max) AS big").scalar(Int32.self)
            }
            #expect(error?.column == "big")
            #expect(error?.description.contains("int8") == true)
            #expect(error?.description.contains("Int32") == true)
        }
    }

    @Test func booleansAndFloats() async throws {
        try await withTestConnection { connection throws in
            #expect(try await roundTrip(true, "bool", on: connection) == true)
            #expect(try await roundTrip(false, "bool", on: connection) == false)
            for value in [0.0, -0.0, 1.5, -2.25e-300, .greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity, -.infinity] {
                #expect(try await roundTrip(value, "float8", on: connection) == value)
            }
            #expect(try await roundTrip(Double.nan, "float8", on: connection).isNaN)
            #expect(try await roundTrip(Float(3.5), "float4", on: connection) == 3.5)
        }
    }

    @Test func textInEveryScript() async throws {
        try await withTestConnection { connection throws in
            for value in ["", "plain", "数据产品与服务", "🚀👩‍💻", "'quoted' \"double\" \\back"] {
                #expect(try await roundTrip(value, "text", on: connection) == value)
                #expect(try await roundTrip(value, "varchar", on: connection) == value)
            }
            let megabyte = String(repeating: "公共数据abc", count: 1_048_576 / 15)
            #expect(try await roundTrip(megabyte, "text", on: connection) == megabyte)
        }
    }

    @Test func numericStaysExact() async throws {
        try await withTestConnection { connection throws in
            for text in ["0", "1", "-1", "0.5", "-0.001", "123.4500", "10000", "99999999", "0.00000001",
                         "12345678901234567890.123456789012345678901234567890", "NaN", "Infinity", "-Infinity"] {
                let numeric = try #require(PostgresNumeric(text))
                #expect(try await roundTrip(numeric, "numeric", on: connection) == numeric, "\(text)")
                // The server's own text agrees with ours.
                let serverText = try await connection.query("SELECT \(numeric)::numeric::text").scalar(String.self)
                #expect(serverText == numeric.description)
            }
            #expect(PostgresNumeric("1.5e3")?.description == "1500")
            #expect(PostgresNumeric("abc") == nil)
            let decimal = try #require(Decimal(string: "12345.678"))
            #expect(try await roundTrip(decimal, "numeric", on: connection) == decimal)
            #expect(try await connection.query("SELECT 1.10::numeric(10,2)").scalar(String.self) == "1.10")
            // A numeric never silently becomes a double.
            await #expect(throws: PostgresDecodingError.self) { try await connection.query("SELECT 1.5::numeric").scalar(Double.self) }
            // More digits than Decimal holds is an error, not rounding.
            await #expect(throws: PostgresDecodingError.self) {
                try await connection.query("SELECT 1234567890123456789012345678901234567890.5::numeric").scalar(Decimal.self)
            }
        }
    }

    @Test func uuidsDatesAndTimes() async throws {
        try await withTestConnection { connection throws in
            let id = UUID()
            #expect(try await roundTrip(id, "uuid", on: connection) == id)
            #expect(try await connection.query("SELECT \(id)::uuid").scalar(String.self) == id.uuidString.lowercased())

            let now = Date(timeIntervalSinceReferenceDate: (Date().timeIntervalSinceReferenceDate * 1_000_000).rounded() / 1_000_000)
            let back = try await roundTrip(now, "timestamptz", on: connection)
            #expect(abs(back.timeIntervalSince(now)) < 0.000_001)
            let epoch = try await connection.query("SELECT '1970-01-01 00:00:00+00'::timestamptz").scalar(Date.self)
            #expect(epoch == Date(timeIntervalSince1970: 0))
            #expect(try await connection.query("SELECT 'infinity'::timestamptz").scalar(Date.self) == .distantFuture)

            for text in ["2000-01-01", "1999-12-31", "2024-02-29", "1970-01-01", "0001-01-01", "2100-12-31"] {
                let day = try #require(CalendarDate(text))
                #expect(try await roundTrip(day, "date", on: connection) == day)
                #expect(try await connection.query("SELECT \(day)::text").scalar(String.self) == text)
            }
            #expect(CalendarDate("2023-02-29") == nil)
        }
    }

    @Test func byteaAndJSONB() async throws {
        try await withTestConnection { connection throws in
            for data in [Data(), Data((0...255).map(UInt8.init)), Data(repeating: 0xAB, count: 1 << 20)] {
                #expect(try await roundTrip(data, "bytea", on: connection) == data)
            }
            let profile = Profile(name: "运营机构 A", tags: ["交通", "energy"], score: nil)
            #expect(try await roundTrip(JSONB(profile), "jsonb", on: connection).value == profile)
            #expect(try await connection.query("SELECT \(JSONB(profile))->>'name'").scalar(String.self) == "运营机构 A")
            // A JSON string binds to jsonb directly.
            #expect(try await connection.query("SELECT (\("{\"a\": [1, 2]}")::jsonb->'a'->>1)").scalar(String.self) == "2")
            #expect(try await connection.query("SELECT '{\"b\":1}'::jsonb").scalar(String.self) == "{\"b\": 1}")
        }
    }

    @Test func arraysIncludingEmptyAndNullElements() async throws {
        try await withTestConnection { connection throws in
            #expect(try await roundTrip([String](), "text[]", on: connection) == [])
            #expect(try await roundTrip(["a", "公共", "🚀", "", "with,comma", "{brace}", "\"q\""], "text[]", on: connection)
                    == ["a", "公共", "🚀", "", "with,comma", "{brace}", "\"q\""])
            #expect(try await roundTrip([Int64.min, 0, Int64.max], "int8[]", on: connection) == [Int64.min, 0, Int64.max])
            #expect(try await roundTrip([Int64](), "int8[]", on: connection) == [])
            let ids = [UUID(), UUID()]
            #expect(try await roundTrip(ids, "uuid[]", on: connection) == ids)
            #expect(try await roundTrip([UUID](), "uuid[]", on: connection) == [])
            #expect(try await roundTrip(["x", nil, "z"] as [String?], "text[]", on: connection) == ["x", nil, "z"])
            #expect(try await roundTrip([true, false], "bool[]", on: connection) == [true, false])
            #expect(try await roundTrip([1.5, -2.0], "float8[]", on: connection) == [1.5, -2.0])
            // Arrays bind to ANY().
            let count = try await connection.query("SELECT count(*) FROM generate_series(1, 10) g WHERE g = ANY(\([2, 4, 99]))").scalar(Int.self)
            #expect(count == 2)
        }
    }

    @Test func nullsBecomeOptionalsAndNonOptionalsRefuseThem() async throws {
        try await withTestConnection { connection throws in
            let row = try await connection.query("""
                SELECT NULL::int8 AS a, NULL::text AS b, NULL::uuid AS c, NULL::timestamptz AS d, NULL::bytea AS e,
                       NULL::numeric AS f, NULL::text[] AS g, NULL::bool AS h, NULL::jsonb AS i, NULL::date AS j
                """)[0]
            let (a, b, c, d, e, f, g, h, i, j) = try row.decode(
                Int?.self, String?.self, UUID?.self, Date?.self, Data?.self, PostgresNumeric?.self, [String]?.self,
                Bool?.self, JSONB<Profile>?.self, CalendarDate?.self)
            #expect(a == nil && b == nil && c == nil && d == nil && e == nil && f == nil && g == nil && h == nil && i == nil && j == nil)
            // NULL parameters.
            let none: Int? = nil
            #expect(try await connection.query("SELECT \(none)::int8 IS NULL").scalar(Bool.self) == true)
            let error = await #expect(throws: PostgresDecodingError.self) {
                try await connection.query("SELECT NULL::int8 AS missing").scalar(Int.self)
            }
            #expect(error?.column == "missing")
            #expect(error?.description.contains("NULL") == true)
        }
    }

    @Test func decodingErrorsNameTheColumnAndBothTypes() async throws {
        try await withTestConnection { connection throws in
            let error = await #expect(throws: PostgresDecodingError.self) {
                try await connection.query("SELECT 'x'::text AS label").scalar(Int.self)
            }
            #expect(error?.description == "column \"label\" of type text cannot be decoded as Int: unsupported column type")
            let arity = await #expect(throws: PostgresDecodingError.self) {
                try await connection.query("SELECT 1, 2")[0].decode(Int.self)
            }
            #expect(arity?.reason.contains("2 columns") == true)
        }
    }
}
