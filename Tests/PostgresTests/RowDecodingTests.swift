import Foundation
import PDXTestSupport
import Postgres
import Testing

private enum Grade: String, Codable { case general, important, core }

private struct Resource: Decodable, Equatable {
    var id: UUID
    var title: String
    var grade: Grade
    var sectors: [String]
    var listPriceFen: Int64
    var createdOn: CalendarDate
    var note: String?
    var details: Details

    struct Details: Decodable, Equatable { var fields: [String] }
}

@Suite struct RowDecodingTests {
    @Test func decodableRowsMatchColumnsByName() async throws {
        try await withTestConnection { connection throws in
            try await connection.executeScript(unsafeSQL: """
                CREATE TYPE grade AS ENUM ('general', 'important', 'core');
                CREATE TABLE resources (
                    id uuid PRIMARY KEY, title text NOT NULL, grade grade NOT NULL, sectors text[] NOT NULL,
                    list_price_fen bigint NOT NULL, created_on date NOT NULL, note text, details jsonb NOT NULL);
                """)
            let id = UUID()
            try await connection.execute("""
                INSERT INTO resources VALUES (\(id), \("企业登记"), \("important"), \(["finance", "transport"]),
                    \(Int64(12_345)), \(CalendarDate(year: 2026, month: 11, day: 27)), NULL, \("{\"fields\": [\"name\", \"code\"]}"))
                """)
            let resources = try await connection.query("SELECT * FROM resources").decode(as: Resource.self)
            #expect(resources == [Resource(
                id: id, title: "企业登记", grade: .important, sectors: ["finance", "transport"], listPriceFen: 12_345,
                createdOn: try #require(CalendarDate("2026-11-27")), note: nil, details: .init(fields: ["name", "code"]))])

            // A missing column names itself.
            let error = await #expect(throws: PostgresDecodingError.self) {
                try await connection.query("SELECT id FROM resources").decode(as: Resource.self)
            }
            #expect(error?.column == "title")
        }
    }

    @Test func tuplesDecodeWithParameterPacks() async throws {
        try await withTestConnection { connection throws in
            let rows = try await connection.query("SELECT g, g::text, g % 2 = 0 FROM generate_series(1, 3) g")
            let decoded = try rows.decode(Int32.self, String.self, Bool.self)
            #expect(decoded.map(\.0) == [1, 2, 3])
            #expect(decoded.map(\.1) == ["1", "2", "3"])
            #expect(decoded.map(\.2) == [false, true, false])
            #expect(try rows[2].decode(Int.self, column: "g") == 3)
        }
    }
}
