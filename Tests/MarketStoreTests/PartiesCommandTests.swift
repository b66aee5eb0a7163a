import Foundation
import Market
import MarketStore
import PDXTestSupport
import Postgres
import Testing

/// `pdxctl parties` as an administrator runs it on a new market, against real PostgreSQL: a party registered
/// from the command line, found in the list, shown, and given its first key, with no SQL.
@Suite struct PartiesCommandTests {
    @Test func anAdministratorRegistersListsAndShowsParties() async throws {
        try await withMarket { market in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            func pdxctl(_ arguments: String...) async throws -> (status: Int32, output: String, error: String) {
                try await runBuilt("pdxctl", arguments + ["--database-url", url])
            }
            let registered = try await pdxctl("parties", "register", "--kind", "demander", "--name", "示例物流 Example Logistics",
                                              "--credit-code", "91310115MA1K4CXY1F", "--region", "310115", "--small-or-micro", "--actor", "li.wei",
                                              "--json")
            #expect(registered.status == 0, "\(registered.error)")
            let row = try #require(try JSONSerialization.jsonObject(with: Data(registered.output.utf8)) as? [String: Any])
            #expect(row["kind"] as? String == "demander" && row["credit_code"] as? String == "91310115MA1K4CXY1F" && row["small_or_micro"] as? Bool == true)
            let id = try #require((row["id"] as? String).flatMap(UUID.init(uuidString:)))
            #expect(row["id"] as? String == id.uuidString.lowercased(), "ids in lower case")
            let stored = try await market.store.party(id)
            #expect(stored.name == "示例物流 Example Logistics" && stored.regionCode.value == "310115" && stored.smallOrMicro)
            let audited = try await market.pool.query("""
                SELECT count(*) FROM audit_events WHERE action = 'party.register' AND lower(subject_id) = \(id.uuidString.lowercased()) AND actor = 'admin:li.wei'
                """).scalar(Int64.self)
            #expect(audited == 1, "registering is audited with the actor")

            let demanders = try await pdxctl("parties", "list", "--kind", "demander")
            #expect(demanders.status == 0 && demanders.output.contains(id.uuidString.lowercased()) && demanders.output.contains("示例物流"))
            #expect(!demanders.output.contains(market.operatorA.id.uuidString.lowercased()), "only demanders")
            let all = try await pdxctl("parties", "list", "--json")
            let listed = try #require(try JSONSerialization.jsonObject(with: Data(all.output.utf8)) as? [[String: Any]])
            #expect(Set(listed.compactMap { $0["id"] as? String }).isSuperset(of: [id.uuidString.lowercased(), market.agency.id.uuidString.lowercased()]))

            // Its first key, as the register command says next, then shown with the party.
            let key = try await pdxctl("keys", "create", "--party", id.uuidString.lowercased(), "--label", "first")
            #expect(key.status == 0, "\(key.error)")
            let shown = try await pdxctl("parties", "show", id.uuidString.lowercased())
            #expect(shown.status == 0 && shown.output.contains("1 active, 0 revoked") && shown.output.contains("91310115MA1K4CXY1F"), "\(shown.output)")

            // The same credit code twice is refused naming the field; nothing else is stored.
            let again = try await pdxctl("parties", "register", "--kind", "operator", "--name", "另一家", "--credit-code", "91310115MA1K4CXY1F",
                                         "--region", "310000")
            #expect(again.status == 1 && again.error.contains("credit_code is already registered"), "\(again.error)")
            let count = try await market.pool.query("SELECT count(*) FROM parties WHERE credit_code = '91310115MA1K4CXY1F'").scalar(Int64.self)
            #expect(count == 1)
        }
    }

    @Test func badInputIsRefusedNamingTheOptionAndTheRule() async throws {
        try await withMarket { market in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            let before = try await market.pool.query("SELECT count(*) FROM parties").scalar(Int64.self)
            let base = ["--name", "示例", "--region", "310000"]
            for (arguments, message) in [
                (["register", "--kind", "bank", "--credit-code", "91310115MA1K4CXY1F"] + base, "--kind must be one of agency, operator, demander, got 'bank'"),
                (["register", "--kind", "demander", "--credit-code", "91310115MA1K4CXY1B"] + base, "--credit-code check character must be 'F'"),
                (["register", "--kind", "demander", "--credit-code", "9131"] + base, "--credit-code must have 18 characters, got 4"),
                (["register", "--kind", "demander", "--credit-code", "91310115MA1K4CXY1F", "--name", " ", "--region", "310000"], "--name must be 1 to 200 characters"),
                (["register", "--kind", "demander", "--credit-code", "91310115MA1K4CXY1F", "--name", "示例", "--region", "31"], "--region must be"),
                (["list", "--kind", "bank"], "--kind must be one of"),
                (["show", "42"], "the party id must be a UUID, got '42'"),
            ] {
                let result = try await runBuilt("pdxctl", ["parties"] + arguments + ["--database-url", url])
                #expect(result.status == 64, "\(arguments): \(result.status) \(result.error)")
                #expect(result.error.contains(message), "\(arguments): \(result.error)")
            }
            let unknown = try await runBuilt("pdxctl", ["parties", "show", UUID().uuidString, "--database-url", url])
            #expect(unknown.status == 1 && unknown.error.contains("no party"), "\(unknown.error)")
            #expect(try await market.pool.query("SELECT count(*) FROM parties").scalar(Int64.self) == before, "nothing was registered")
        }
    }
}
