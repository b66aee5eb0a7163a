import Foundation
import PDXTestSupport
import Postgres
import Testing

@Suite struct QueryTests {
    @Test func selectsBoundValues() async throws {
        try await TestDatabase.withDatabase { configuration in
            let connection = try await PostgresConnection.connect(configuration: configuration)
            let rows = try await connection.query("SELECT \(41) + 1 AS answer, \("pdx") AS name")
            let (answer, name) = try rows[0].decode(Int.self, String.self)
            #expect(answer == 42)
            #expect(name == "pdx")
            await connection.close()
        }
    }
}
