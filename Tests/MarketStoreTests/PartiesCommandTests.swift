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
                                              "--credit-code", "91310115MA1K4CXY1F", "--region", "310115", "--name-en", "Example Logistics Ltd",
                                              "--contact-name", "王芳", "--contact-email", "wang.fang@example.cn", "--contact-phone", "+86 21 5555 0101",
                                              "--actor", "li.wei", "--json")
            #expect(registered.status == 0, "\(registered.error)")
            let row = try #require(try JSONSerialization.jsonObject(with: Data(registered.output.utf8)) as? [String: Any])
            #expect(row["kind"] as? String == "demander" && row["credit_code"] as? String == "91310115MA1K4CXY1F" && row["name_en"] as? String == "Example Logistics Ltd"
                    && row["state"] as? String == "active" && (row["classes"] as? [String]) == [])
            let id = try #require((row["id"] as? String).flatMap(UUID.init(uuidString:)))
            #expect(row["id"] as? String == id.uuidString.lowercased(), "ids in lower case")
            let stored = try await market.store.party(id)
            #expect(stored.name == "示例物流 Example Logistics" && stored.regionCode.value == "310115" && stored.verifications.isEmpty)
            #expect(try await market.store.partyDetails(id).contact == Contact(name: "王芳", email: "wang.fang@example.cn", phone: "+86 21 5555 0101"))
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
            #expect(shown.status == 0 && shown.output.contains("1 usable, 0 revoked or expired") && shown.output.contains("91310115MA1K4CXY1F"), "\(shown.output)")

            // The same credit code twice is refused naming the field; nothing else is stored.
            let again = try await pdxctl("parties", "register", "--kind", "operator", "--name", "另一家", "--credit-code", "91310115MA1K4CXY1F",
                                         "--region", "310000")
            #expect(again.status == 1 && again.error.contains("credit_code is already registered"), "\(again.error)")
            let count = try await market.pool.query("SELECT count(*) FROM parties WHERE credit_code = '91310115MA1K4CXY1F'").scalar(Int64.self)
            #expect(count == 1)
        }
    }

    /// The life of a party from the command line: updated, verified, suspended (its key refused, its listed
    /// product out of the catalogue), reinstated, affiliated, and closed for good; each step audited.
    @Test func anAdministratorUpdatesVerifiesSuspendsReinstatesAffiliatesAndCloses() async throws {
        try await withMarket { market in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            func pdxctl(_ arguments: String...) async throws -> (status: Int32, output: String, error: String) {
                try await runBuilt("pdxctl", arguments + ["--database-url", url, "--actor", "li.wei"])
            }
            let demander = market.demander.id.uuidString.lowercased(), operatorA = market.operatorA.id.uuidString.lowercased()
            let updated = try await pdxctl("parties", "update", demander, "--name-en", "Bank of Example", "--contact-email", "ops@bank.example",
                                           "--reason", "renamed")
            #expect(updated.status == 0 && updated.output.contains("Bank of Example") && updated.output.contains("ops@bank.example"), "\(updated.error)")

            let verified = try await pdxctl("parties", "verify", demander, "--class", "small_micro", "--evidence", "MIIT 2026-031", "--expires-in", "30d", "--json")
            #expect(verified.status == 0, "\(verified.error)")
            #expect(try await market.store.party(market.demander.id).verifications.map(\.partyClass) == [.smallMicro])

            // Suspended: the key is refused for that reason, the listed product leaves the catalogue.
            let (_, token) = try await market.store.createAPIKey(party: market.operatorA.id, by: Market.admin)
            let product = try await market.listedProduct().id
            let suspended = try await pdxctl("parties", "suspend", operatorA, "--reason", "unpaid fees", "--json")
            #expect(suspended.status == 0, "\(suspended.error)")
            guard case .failure(.partySuspended) = try await market.store.checkAPIKey(token) else { Issue.record("a suspended party's key works"); return }
            #expect(try await market.pool.query("SELECT count(*) FROM catalogue WHERE product_id = \(product)").scalar(Int64.self) == 0)
            let twice = try await pdxctl("parties", "suspend", operatorA, "--reason", "again")
            #expect(twice.status == 1 && twice.error.contains("a party that is suspended cannot become suspended"), "\(twice.error)")
            let reinstated = try await pdxctl("parties", "reinstate", operatorA, "--reason", "fees paid")
            #expect(reinstated.status == 0 && reinstated.output.contains("1 products and demands offered to matching again"), "\(reinstated.output) \(reinstated.error)")
            guard case .success = try await market.store.checkAPIKey(token) else { Issue.record("a reinstated party's key is refused"); return }
            #expect(try await market.pool.query("SELECT count(*) FROM catalogue WHERE product_id = \(product)").scalar(Int64.self) == 1)

            let affiliated = try await pdxctl("parties", "affiliate", operatorA, demander, "--relation", "parent", "--reason", "holds 60%")
            #expect(affiliated.status == 0 && affiliated.output.contains("is parent of"), "\(affiliated.error)")
            #expect(try await market.store.affiliated(with: market.demander.id) == [market.demander.id, market.operatorA.id])
            let again = try await pdxctl("parties", "affiliate", demander, operatorA, "--relation", "subsidiary", "--reason", "again")
            #expect(again.status == 1 && again.error.contains("affiliation"), "\(again.error)")
            let ended = try await pdxctl("parties", "unaffiliate", demander, operatorA, "--reason", "sold the stake")
            #expect(ended.status == 0, "\(ended.error)")
            #expect(try await market.store.affiliated(with: market.demander.id) == [market.demander.id])

            let closedWithoutYes = try await pdxctl("parties", "close", operatorA, "--reason", "dissolved")
            #expect(closedWithoutYes.status == 1 && closedWithoutYes.error.contains("pass --yes"))
            let closed = try await pdxctl("parties", "close", operatorA, "--reason", "dissolved", "--yes", "--json")
            #expect(closed.status == 0, "\(closed.error)")
            #expect(try await market.store.product(product).state == .delisted)
            let reopened = try await pdxctl("parties", "reinstate", operatorA, "--reason", "oops")
            #expect(reopened.status == 1 && reopened.error.contains("closed cannot become active"), "closing is final: \(reopened.error)")
            let actions = try await market.pool.query("""
                SELECT action FROM audit_events WHERE actor = 'admin:li.wei' AND action LIKE 'party.%' ORDER BY id
                """).decode(String.self)
            #expect(actions == ["party.update", "party.verify", "party.suspend", "party.reinstate", "party.affiliate", "party.unaffiliate", "party.close"])
        }
    }

    @Test func sectorsScenariosAndKeysFromTheCommandLine() async throws {
        try await withMarket { market in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            func pdxctl(_ arguments: String...) async throws -> (status: Int32, output: String, error: String) {
                try await runBuilt("pdxctl", arguments + ["--database-url", url])
            }
            let added = try await pdxctl("scenarios", "add", "flood_warning", "--name-zh", "洪水预警", "--name-en", "flood warning")
            #expect(added.status == 0, "\(added.error)")
            let listed = try await pdxctl("scenarios", "list", "--json")
            try #require(listed.status == 0, "\(listed.error)")
            let terms = try #require(try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: String]])
            #expect(terms.contains(["code": "flood_warning", "name_zh": "洪水预警", "name_en": "flood warning"]))
            let renamed = try await pdxctl("sectors", "rename", "transport", "--name-en", "transport and logistics")
            #expect(renamed.status == 0 && renamed.output.contains("transport and logistics"), "\(renamed.error)")
            let twice = try await pdxctl("scenarios", "add", "flood_warning", "--name-zh", "洪水", "--name-en", "flood")
            #expect(twice.status == 1 && twice.error.contains("code is already a known scenario"), "\(twice.error)")
            let bad = try await pdxctl("sectors", "add", "Water!", "--name-zh", "水利", "--name-en", "water")
            #expect(bad.status == 64 && bad.error.contains("the code must be 2 to 40 lowercase letters"), "\(bad.error)")
            let unknown = try await pdxctl("sectors", "rename", "nothing", "--name-zh", "无")
            #expect(unknown.status == 1 && unknown.error.contains("code is not a known sector"), "\(unknown.error)")

            let created = try await pdxctl("keys", "create", "--party", market.demander.id.uuidString, "--expires-in", "90d", "--json")
            try #require(created.status == 0, "\(created.error)")
            let key = try #require(try JSONSerialization.jsonObject(with: Data(created.output.utf8)) as? [String: Any])
            #expect(created.status == 0 && key["expires_at"] is String, "\(created.error)")
            let rotated = try await pdxctl("keys", "rotate", try #require(key["id"] as? String), "--grace", "1h", "--json")
            let next = try #require(try JSONSerialization.jsonObject(with: Data(rotated.output.utf8)) as? [String: Any])
            let old = try #require(key["key"] as? String), new = try #require(next["key"] as? String)
            guard case .success = try await market.store.checkAPIKey(old), case .success = try await market.store.checkAPIKey(new) else {
                Issue.record("both keys work during the grace period"); return
            }
            let previous = try #require(next["previous"] as? [String: Any])
            #expect(previous["successor_id"] as? String == next["id"] as? String)
            let rotatedTwice = try await pdxctl("keys", "rotate", try #require(key["id"] as? String))
            #expect(rotatedTwice.status == 1 && rotatedTwice.error.contains("rotated"), "a key rotates once: \(rotatedTwice.error)")
            let noGrace = try await pdxctl("keys", "rotate", try #require(next["id"] as? String), "--grace", "0s")
            #expect(noGrace.status == 0)
            guard case .failure(.expired) = try await market.store.checkAPIKey(new) else { Issue.record("a key rotated without grace still works"); return }
            let tooLong = try await pdxctl("keys", "create", "--party", market.demander.id.uuidString, "--expires-in", "forever")
            #expect(tooLong.status == 64 && tooLong.error.contains("--expires-in must be a duration"))
        }
    }

    /// Applications from the command line: listed, shown, approved with a verified class, another rejected;
    /// each decision once.
    @Test func anAdministratorReviewsApplications() async throws {
        try await withMarket { market in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            func pdxctl(_ arguments: String...) async throws -> (status: Int32, output: String, error: String) {
                try await runBuilt("pdxctl", arguments + ["--database-url", url])
            }
            func apply(_ name: String) async throws -> UUID {
                try await market.store.submitApplication(NewApplication(kind: .demander, name: name, creditCode: uniqueCreditCode(), regionCode: "310000",
                                                                        contact: Contact(name: "王芳", email: "wang@example.cn"), classes: [.smallMicro])).application.id
            }
            let first = try await apply("小店甲"), second = try await apply("小店乙")
            let pending = try await pdxctl("applications", "list", "--state", "pending", "--json")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(pending.output.utf8)) as? [[String: Any]])
            #expect(rows.compactMap { $0["id"] as? String } == [first, second].map { $0.uuidString.lowercased() })
            let shown = try await pdxctl("applications", "show", first.uuidString)
            #expect(shown.status == 0 && shown.output.contains("小店甲") && shown.output.contains("small_micro"), "\(shown.error)")
            let unclaimed = try await pdxctl("applications", "approve", first.uuidString, "--reason", "checked", "--accept-class", "public_institution",
                                             "--evidence", "x", "--expires-in", "30d")
            #expect(unclaimed.status == 1 && unclaimed.error.contains("may accept only classes the application claims"), "\(unclaimed.error)")
            let approved = try await pdxctl("applications", "approve", first.uuidString, "--reason", "licence checked", "--accept-class", "small_micro",
                                            "--evidence", "MIIT 2026-031", "--expires-in", "365d", "--json")
            #expect(approved.status == 0, "\(approved.error)")
            let application = try #require(try JSONSerialization.jsonObject(with: Data(approved.output.utf8)) as? [String: Any])
            let party = try #require((application["party_id"] as? String).flatMap(UUID.init(uuidString:)))
            #expect(try await market.store.party(party).verifications.map(\.partyClass) == [.smallMicro])
            let twice = try await pdxctl("applications", "approve", first.uuidString, "--reason", "again")
            #expect(twice.status == 1 && twice.error.contains("application that is approved"), "\(twice.error)")
            let rejected = try await pdxctl("applications", "reject", second.uuidString, "--reason", "the licence has lapsed")
            let stored = try await market.store.application(second)
            #expect(rejected.status == 0 && stored.state == .rejected && stored.decisionReason == "the licence has lapsed")
            for (arguments, message) in [
                (["approve", first.uuidString], "Missing expected argument '--reason"),
                (["approve", "42", "--reason", "x"], "the application id must be a UUID, got '42'"),
                (["approve", first.uuidString, "--reason", "x", "--accept-class", "small_micro"], "--evidence is required with --accept-class"),
                (["approve", first.uuidString, "--reason", "x", "--accept-class", "rich"], "--accept-class must be one of"),
                (["list", "--state", "lost"], "--state must be one of pending, approved, rejected, claimed"),
            ] {
                let result = try await runBuilt("pdxctl", ["applications"] + arguments + ["--database-url", url])
                #expect(result.status == 64 && result.error.contains(message), "\(arguments): \(result.status) \(result.error)")
            }
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
                (["register", "--kind", "demander", "--credit-code", "91310115MA1K4CXY1F", "--contact-email", "nobody"] + base, "--contact-email must be an email address"),
                (["register", "--kind", "demander", "--credit-code", "91310115MA1K4CXY1F", "--contact-phone", "call me"] + base, "--contact-phone must be a phone number"),
                (["update", UUID().uuidString], "give at least one of --name"),
                (["suspend", UUID().uuidString], "Missing expected argument '--reason"),
                (["suspend", UUID().uuidString, "--reason", " "], "--reason must be 1 to 2000 characters"),
                (["verify", UUID().uuidString, "--class", "big", "--evidence", "x", "--expires-in", "1d"], "--class must be one of small_micro, public_institution, social_organization"),
                (["verify", UUID().uuidString, "--class", "small_micro", "--evidence", "x"], "give --expires-in (e.g. 365d) or --expires-at"),
                (["verify", UUID().uuidString, "--class", "small_micro", "--evidence", "x", "--expires-in", "soon"], "--expires-in must be a duration"),
                (["affiliate", UUID().uuidString, UUID().uuidString, "--relation", "cousin", "--reason", "x"], "--relation must be one of parent, subsidiary, common_control"),
                (["affiliate", "0b7c0000-0000-4000-8000-000000000000", "0b7c0000-0000-4000-8000-000000000000", "--relation", "parent", "--reason", "x"], "party B must be another party than A"),
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
