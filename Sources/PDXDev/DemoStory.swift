import Foundation
import LocalPostgres
public import Logging
import Market
import MarketStore
import PDXClient
import PDXTokens
import Postgres

/// `pdx demo`: the market's story told through the public HTTP API, step by step, each checked against the
/// rules. An administrator's steps (registering the parties, issuing their keys, lowering a cap) go through
/// the database, as `pdxctl` does; everything a party does goes through HTTP.
public struct DemoStory: Sendable {
    public struct Options: Sendable {
        /// A running API; nil: start `pdx dev` in a temporary folder and stop it afterwards.
        public var apiURL: String?
        /// The same stack's database, for the administrator's steps (required with `apiURL`).
        public var databaseURL: String?
        public var executable: String

        public init(apiURL: String?, databaseURL: String?, executable: String) {
            self.apiURL = apiURL
            self.databaseURL = databaseURL
            self.executable = executable
        }
    }

    /// One step: what the rules say should happen, what did.
    public struct Step: Sendable {
        public var name: String
        public var expected: String
        public var observed: String
        public var passed: Bool
    }

    public let options: Options
    let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Runs the story; the steps in order (every one passed when the market behaved as the rules say).
    public func run(say: @escaping @Sendable (String) -> Void) async throws -> [Step] {
        if let url = options.apiURL {
            guard let database = options.databaseURL else {
                throw LocalPostgresError("pdx demo --url needs the same stack's database (DATABASE_URL or --database-url) for the administrator's steps")
            }
            return try await tell(api: url, database: database, say: say)
        }
        let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pdx-demo-\(getpid())")
        let apiPort = Int.random(in: 20_000...25_999), databasePort = Int.random(in: 26_000...31_999)
        say("Starting pdx dev in \(folder.path): PostgreSQL, the API on 127.0.0.1:\(apiPort) and 2 workers…")
        let dev = ChildProcess()
        dev.executableURL = URL(fileURLWithPath: options.executable)
        dev.arguments = ["dev", "--data-dir", folder.path, "--api-port", "\(apiPort)", "--port", "\(databasePort)", "--workers", "2",
                         "--log-level", "error"]
        dev.environment = ProcessInfo.processInfo.environment.filter { $0.key != "DATABASE_URL" }
        let log = folder.deletingLastPathComponent().appendingPathComponent("pdx-demo-\(getpid()).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        dev.standardOutput = handle
        dev.standardError = handle
        try dev.run()
        defer {
            if dev.isRunning {
                kill(dev.processIdentifier, SIGINT)
                dev.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: folder)
        }
        let api = "http://127.0.0.1:\(apiPort)"
        let probe = Client(serverURL: try Self.url(api), timeout: .seconds(5))
        let deadline = ContinuousClock.now + .seconds(120)
        while await (try? probe.readyz())?.isOK != true {
            guard dev.isRunning, ContinuousClock.now < deadline else { throw LocalPostgresError("pdx dev did not become ready; see \(log.path)") }
            try await Task.sleep(for: .milliseconds(250))
        }
        let steps = try await tell(api: api, database: "postgresql://pdx@127.0.0.1:\(databasePort)/pdx", say: say)
        say("Stopping pdx dev…")
        kill(dev.processIdentifier, SIGINT)
        dev.waitUntilExit()
        return steps
    }

    private func tell(api: String, database: String, say: @escaping @Sendable (String) -> Void) async throws -> [Step] {
        let pool = PostgresPool(configuration: .init(connection: PostgresConfiguration(connectionString: database, applicationName: "pdx demo"),
                                                     maxConnections: 2), logger: logger)
        do {
            let steps = try await Story(store: MarketStore(pool: pool), api: try Self.url(api), say: say).tell()
            await pool.close()
            return steps
        } catch {
            await pool.close()
            throw error
        }
    }

    static func url(_ text: String) throws -> URL {
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw LocalPostgresError("--url must be the API's root, such as http://127.0.0.1:8080 (got \(text))")
        }
        return url
    }

    /// The summary table.
    public static func summary(_ steps: [Step]) -> [String] {
        let width = min(60, steps.map(\.name.count).max() ?? 10)
        func pad(_ text: String, _ count: Int) -> String { text.count >= count ? text : text + String(repeating: " ", count: count - text.count) }
        var lines = ["", pad("step", width) + "  ok   observed"]
        for step in steps { lines.append(pad(step.name, width) + "  " + (step.passed ? "yes " : "NO  ") + " " + step.observed) }
        let passed = steps.filter(\.passed).count
        lines.append("")
        lines.append("steps as the rules say: \(passed) of \(steps.count)")
        return lines
    }
}

/// The story itself, on one market.
private struct Story {
    let store: MarketStore
    /// The API's root.
    let api: URL
    let say: @Sendable (String) -> Void

    final class Steps: @unchecked Sendable {
        var all: [DemoStory.Step] = []
    }

    /// The API as the party holding `key` (nil: as anyone).
    func client(_ key: String?) -> Client { Client(serverURL: api, apiKey: key) }

    func tell() async throws -> [DemoStory.Step] {
        let steps = Steps()
        func check(_ name: String, expected: String, observed: String, _ passed: Bool) {
            steps.all.append(.init(name: name, expected: expected, observed: observed, passed: passed))
            say("  \(passed ? "✓" : "✗") \(observed)\(passed ? "" : " (expected: \(expected))")")
        }
        let admin = Actor.administrator("pdx demo")
        // A city of its own for each telling, so that the story can be told again on the same database.
        let city = try await freeCity()
        say("1. An administrator registers the parties and gives each an API key (city \(city)).")
        func party(_ kind: PartyKind, _ name: String) async throws -> (id: UUID, key: String) {
            let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
            let code = try CreditCode.completing("91" + city + String((0..<9).map { _ in alphabet.randomElement()! })).value
            let id = try await store.registerParty(NewParty(kind: kind, name: name, creditCode: code, regionCode: city), by: admin).id
            return (id, try await store.createAPIKey(party: id, label: "pdx demo", by: admin).token)
        }
        let agency = try await party(.agency, "示范市数据局 Demo City Data Bureau")
        let alpha = try await party(.operator, "甲数据运营 Alpha Data Operations")
        let beta = try await party(.operator, "乙数据科技 Beta Data Technology")
        let gamma = try await party(.operator, "丙交通数联 Gamma Transport Data (single operator)")
        let bank = try await party(.demander, "示范银行 Demo Bank")
        let charity = try await party(.demander, "示范慈善会 Demo Charity")
        // Free public-welfare use needs a verified class (or an agency's approval of the demand's purpose).
        let verified = try await store.verifyParty(charity.id, as: .socialOrganization, evidence: "慈善组织登记证书 charity registration (demo)",
                                                   expiresAt: Date() + 365 * 86_400, by: admin)
        check("parties registered", expected: "6 parties with keys, the charity verified",
              observed: "1 agency, 3 operators, 2 demanders, each with a key; the charity verified as \(verified.verification.partyClass.rawValue)", true)

        say("2. The agency registers data resources and grants authorizations: two operators in multi mode, one in single mode.")
        let asAgency = client(agency.key)
        var resources: [String] = []
        for (title, sector) in [("企业用电量 enterprise power use", "energy"), ("公交客流 bus ridership", "transport")] {
            let registered = try await asAgency.registerResource(body: .json(.init(title: title, sector: sector, regionCode: city, grade: .general)))
            if case .created(let created) = registered { resources.append(try created.body.json.id) }
        }
        check("agency registers resources", expected: "2 resources (201)", observed: "\(resources.count) resources registered", resources.count == 2)
        let until = Date() + 3 * 365 * 86_400
        func grant(_ holder: UUID, _ sector: String, _ mode: Components.Schemas.NewAuthorization.ModePayload) async throws -> Outcome {
            let output = try await asAgency.grantAuthorization(body: .json(.init(
                operatorId: holder.uuidString.lowercased(), sectors: [sector], regions: [city],
                scenarios: sector == "energy" ? ["energy_saving", "credit_risk"] : ["traffic_planning"], mode: mode, validUntil: until,
                agencySharePermille: 100)))
            switch output {
            case .created(let created): return Outcome(status: 201, id: try created.body.json.id)
            case .unprocessableContent(let refused): return Outcome(status: 422, code: try refused.body.applicationProblemJson.code.rawValue)
            default: return Outcome(status: 0, code: String("\(output)".prefix(80)))
            }
        }
        let grantAlpha = try await grant(alpha.id, "energy", .multi), grantBeta = try await grant(beta.id, "energy", .multi)
        let grantGamma = try await grant(gamma.id, "transport", .single)
        check("grants: two multi, one single", expected: "201 × 3",
              observed: "energy to Alpha and Beta (multi), transport to Gamma (single): \(grantAlpha.status), \(grantBeta.status), \(grantGamma.status)",
              grantAlpha.status == 201 && grantBeta.status == 201 && grantGamma.status == 201)
        let intruder = try await grant(alpha.id, "transport", .multi)
        check("single mode keeps its scope", expected: "422 single_operator_overlap",
              observed: "a second grant in Gamma's scope: \(intruder.status) \(intruder.code ?? "")",
              intruder.status == 422 && intruder.code == "single_operator_overlap")

        say("3. Operators create products under their authorizations and list them.")
        func product(_ key: String, grant: String?, resource: String, title: String, sector: String, scenarios: [String], fields: [String],
                     price: Int64) async throws -> String? {
            guard let grant else { return nil }
            let operatorClient = client(key)
            let content = Components.Schemas.ProductContent(title: title, sector: sector, regions: [city], scenarios: scenarios, fields: fields,
                                                            deliveryModes: [.api], chargeUnit: .record, listPriceFen: price,
                                                            sourceResourceIds: [resource])
            guard case .created(let created) = try await operatorClient.createProduct(body: .json(.init(value1: content, value2: .init(authorizationId: grant))))
            else { return nil }
            let id = try created.body.json.id
            guard case .ok = try await operatorClient.listProduct(path: .init(id: id)) else { return nil }
            return id
        }
        let powerIndex = try await product(alpha.key, grant: grantAlpha.id, resource: resources.first ?? "", title: "企业用电指数 power index",
                                           sector: "energy", scenarios: ["energy_saving", "credit_risk"], fields: ["industry", "power_kwh"], price: 50)
        let powerCredit = try await product(beta.key, grant: grantBeta.id, resource: resources.first ?? "", title: "用电信用画像 power-based credit profile",
                                            sector: "energy", scenarios: ["credit_risk"], fields: ["industry", "credit_score"], price: 80)
        let ridership = try await product(gamma.key, grant: grantGamma.id, resource: resources.last ?? "", title: "公交客流热力 bus ridership heat",
                                          sector: "transport", scenarios: ["traffic_planning"], fields: ["stop_id", "riders"], price: 20)
        let listed = [powerIndex, powerCredit, ridership].compactMap { $0 }
        check("operators list products", expected: "3 listed", observed: "\(listed.count) products listed", listed.count == 3)
        let anyone = client(nil)
        let found = try await anyone.searchProducts(query: .init(region: city)).ok.body.json.items.count
        check("the catalogue shows them", expected: "3 in the city's catalogue", observed: "\(found) found searching region \(city)", found == 3)

        say("4. Demanders post demands; one is for public welfare.")
        let expires = Date() + 30 * 86_400
        func demand(_ key: String, title: String, sector: String, scenario: String, purpose: Components.Schemas.NewDemand.PurposePayload,
                    fields: [String], budget: Int64, show: Bool = false) async throws -> String? {
            let posted = try await client(key).postDemand(body: .json(.init(
                title: title, sector: sector, scenario: scenario, purpose: purpose, regions: [city], fieldsWanted: fields, quantity: 10_000,
                budgetFen: budget, deliveryModes: [.api], expiresAt: expires, open: true, showIdentity: show)))
            guard case .created(let created) = posted else { return nil }
            return try created.body.json.id
        }
        let loans = try await demand(bank.key, title: "小微企业贷前风控 pre-loan risk checks", sector: "energy", scenario: "credit_risk",
                                     purpose: .industryDevelopment, fields: ["credit_score", "industry"], budget: 2_000_000)
        let watch = try await demand(bank.key, title: "企业用电监测 watching power use", sector: "energy", scenario: "energy_saving",
                                     purpose: .industryDevelopment, fields: ["power_kwh"], budget: 2_000_000)
        let buses = try await demand(charity.key, title: "无障碍公交规划 accessible bus planning", sector: "transport", scenario: "traffic_planning",
                                     purpose: .publicWelfare, fields: ["stop_id", "riders"], budget: 0, show: true)
        let demands = [loans, watch, buses].compactMap { $0 }
        check("demands posted, open", expected: "3 × 201", observed: "\(demands.count) demands open (one for public welfare)", demands.count == 3)

        say("5. The workers match them.")
        func matches(_ key: String, _ demand: String?) async throws -> [Components.Schemas.Match] {
            guard let demand else { return [] }
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let items = try await client(key).listDemandMatches(path: .init(id: demand)).ok.body.json.items.filter { $0.state == .proposed }
                // Best first.
                if !items.isEmpty { return items.sorted { $0.score > $1.score } }
                try await Task.sleep(for: .milliseconds(200))
            }
            return []
        }
        let loanMatches = try await matches(bank.key, loans), watchMatches = try await matches(bank.key, watch)
        let busMatches = try await matches(charity.key, buses)
        check("workers propose matches", expected: "proposals for all 3",
              observed: "\(loanMatches.count), \(watchMatches.count), \(busMatches.count) proposals; the loan demand's best: \(loanMatches.first?.productTitle ?? "none")",
              !loanMatches.isEmpty && !watchMatches.isEmpty && !busMatches.isEmpty && loanMatches.first?.productId == powerCredit)
        let welfareFen = busMatches.first?.quoteFen
        check("public welfare is free", expected: "quote 0 fen", observed: "the charity's quote: \(welfareFen.map(String.init) ?? "none") fen", welfareFen == 0)

        say("6. The bank accepts its best match: an order priced with its line items.")
        var orderAmount: Int64?, orderID: String?
        if let demand = loans, let match = loanMatches.first?.id,
           case .created(let created) = try await client(bank.key).acceptMatch(path: .init(id: demand, match: match)) {
            let order = try created.body.json
            for line in order.quote.lines { say("     \(line.step): \(line.detail) → \(line.amountFen) fen") }
            orderAmount = order.amountFen
            orderID = order.id
        }
        check("an order at the quote", expected: "201, 10,000 records at 80 fen = 800,000 fen",
              observed: "order placed for \(orderAmount.map(String.init) ?? "nothing") fen", orderAmount == 800_000)

        say("7. An administrator lowers the cap on Alpha's power index; the open quotes are repriced.")
        let before = watchMatches.first { $0.productId == powerIndex }?.quoteFen
        var after: Int64?
        if let id = powerIndex.flatMap(UUID.init(uuidString:)) {
            _ = try await store.addPricingRule(.cap(maxUnitPriceFen: 30), scope: .init(productID: id), reviewBy: Date() + 365 * 86_400,
                                               author: "pdx demo", reason: "price review: the index costs too much for small firms")
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                after = try await matches(bank.key, watch).first { $0.productId == powerIndex }?.quoteFen
                if let after, after != before { break }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        check("a lower cap reprices open quotes", expected: "500,000 → 300,000 fen",
              observed: "the bank's open quote for the index: \(before.map(String.init) ?? "none") → \(after.map(String.init) ?? "none") fen",
              before == 500_000 && after == 300_000)

        say("8. Operators see the open demand of their scope on the demand board; Gamma offers a new product by hand.")
        let asGamma = client(gamma.key)
        let gammaBoard = try await asGamma.listBoard(query: .init()).ok.body.json.items
        let alphaBoard = try await client(alpha.key).listBoard(query: .init()).ok.body.json.items
        let seen = gammaBoard.first { $0.demand.id == buses }
        check("an operator finds a demand on its board", expected: "Gamma (transport) sees the charity's demand and its name; Alpha (energy) does not",
              observed: "Gamma's board: the charity's demand \(seen == nil ? "missing" : "shown, by " + (seen?.demander?.name ?? "an anonymous demander")); "
                  + "Alpha's board: \(alphaBoard.contains { $0.demand.id == buses } ? "shows it" : "does not show it")",
              seen?.demander?.name == "示范慈善会 Demo Charity" && !alphaBoard.contains { $0.demand.id == buses })
        let stops = try await product(gamma.key, grant: grantGamma.id, resource: resources.last ?? "", title: "无障碍站点客流 step-free stop ridership",
                                      sector: "transport", scenarios: ["traffic_planning"], fields: ["stop_id", "riders", "step_free"], price: 30)
        var offered = "nothing"
        var manual = false
        if let demand = buses, let stops {
            // The workers match the new product too (listing enqueues it): whichever comes first proposes it, once.
            switch try await asGamma.proposeByHand(path: .init(id: demand), body: .json(.init(productId: stops))) {
            case .created(let created):
                let match = try created.body.json
                manual = match.manual == true
                offered = "proposed by hand (201, manual), quoted \(match.quoteFen) fen"
            case .conflict: offered = "already proposed by the workers (409), once"
            default: offered = "refused"
            }
        }
        let stopProposals = try await matches(charity.key, buses).filter { $0.productId == stops }
        let stopFen: Int64? = stopProposals.first?.quoteFen
        let markedManual = stopProposals.first?.manual == true
        let seenBy = "; the charity sees it \(stopProposals.count)×, " + (stopFen.map { "\($0) fen" } ?? "unquoted") + (markedManual ? ", marked manual" : "")
        check("an operator proposes by hand", expected: "the new product proposed once, free for public welfare",
              observed: offered + seenBy, stopProposals.count == 1 && stopFen == 0 && manual == markedManual)

        say("9. The bank completes its order, registers as a re-developer and lists a derived product; it also buys directly.")
        var derived: String?
        if let orderID {
            let asBeta = client(beta.key), asBank = client(bank.key)
            _ = try await asBeta.acceptOrder(path: .init(id: orderID), body: .json(.init()))
            _ = try await asBeta.deliverOrder(path: .init(id: orderID), body: .json(.init()))
            _ = try await asBank.completeOrder(path: .init(id: orderID), body: .json(.init()))
            _ = try await asBank.registerRedeveloper(body: .json(.init()))
            let content = Components.Schemas.ProductContent(title: "小微企业用电信用评分 small-firm power credit score", sector: "energy",
                                                            regions: [city], scenarios: ["credit_risk"], fields: ["industry", "credit_score", "risk_band"],
                                                            deliveryModes: [.api], chargeUnit: .record, listPriceFen: 60)
            if case .created(let created) = try await asBank.createProduct(body: .json(.init(value1: content, value2: .init(sourceOrderIds: [orderID])))) {
                let id = try created.body.json.id
                if case .ok = try await asBank.listProduct(path: .init(id: id)) { derived = id }
            }
        }
        var sources: [String] = [], builtOn: [String] = []
        if let derived, let powerCredit {
            sources = try await client(alpha.key).productLineage(path: .init(id: derived)).ok.body.json.sources.map(\.productId)
            builtOn = try await client(alpha.key).productLineage(path: .init(id: powerCredit)).ok.body.json.derived.map(\.productId)
        }
        check("a buyer lists a derived product", expected: "listed; its lineage names Beta's product, and Beta's names it",
              observed: derived == nil ? "no derived product" : "derived product listed; sources \(sources == [powerCredit ?? ""] ? "= Beta's credit profile" : "\(sources)"); "
                  + "Beta's product built on by \(builtOn.count)",
              derived != nil && sources == [powerCredit ?? ""] && builtOn == [derived ?? ""])
        var directFen: Int64?, directOrder: String?
        if let ridership, case .created(let created) = try await client(bank.key).placeOrder(
            headers: .init(idempotencyKey: "demo-\(city)-ridership"),
            body: .json(.init(productId: ridership, quantity: 1_000, purpose: .industryDevelopment, scenario: "traffic_planning"))) {
            directFen = try created.body.json.amountFen
            directOrder = try created.body.json.id
        }
        check("a direct purchase", expected: "201, 1,000 records at 20 fen = 20,000 fen, without a demand",
              observed: "the bank bought Gamma's ridership directly for \(directFen.map(String.init) ?? "nothing") fen", directFen == 20_000)

        say("10. The agency revokes Beta's authorization; its products, and what was built on them, leave the catalogue.")
        var revoked = 0, gone = false, derivedGone = false
        if let grant = grantBeta.id, let product = powerCredit {
            if case .ok = try await asAgency.revokeAuthorization(
                path: .init(id: grant), body: .json(.init(reason: "audit found the data used outside its authorized scenarios"))) { revoked = 200 }
            if case .notFound = try await anyone.getProduct(path: .init(id: product)) { gone = true }
            if let derived, case .notFound = try await anyone.getProduct(path: .init(id: derived)) { derivedGone = true }
        }
        let left = try await anyone.searchProducts(query: .init(region: city)).ok.body.json.items.count
        check("revocation delists", expected: "200; Beta's product and the derived product 404; 3 left in the catalogue",
              observed: "revoked (\(revoked)); Beta's product \(gone ? "gone" : "still listed"), the derived one \(derivedGone ? "gone" : "still listed"); "
                  + "\(left) left in the city's catalogue",
              revoked == 200 && gone && derivedGone && left == 3)

        say("11. Gamma delivers the bank's direct purchase: a token, usage reported by Gamma's gateway, a month billed and settled.")
        var entitlementID: String?, token: String?
        if let directOrder {
            let asGamma = client(gamma.key)
            _ = try await asGamma.acceptOrder(path: .init(id: directOrder), body: .json(.init()))
            _ = try await asGamma.deliverOrder(path: .init(id: directOrder), body: .json(.init()))
            entitlementID = try await client(bank.key).listEntitlements(query: .init()).ok.body.json.items.first { $0.orderId == directOrder }?.id
            if let entitlementID, case .created(let created) = try await client(bank.key).createEntitlementToken(
                path: .init(id: entitlementID), body: .json(.init(ttlSeconds: 600))) {
                token = try created.body.json.token
            }
        }
        // Gamma's gateway checks the token offline against the published keys (deploy/examples/verify_token.py does the same in Python),
        // and once more by asking pdx.
        var offline: EntitlementClaims?, asked: Components.Schemas.TokenVerification?
        if let token {
            let jwks = try await anyone.getJWKS().ok.body.json
            offline = try? TokenVerifier(jwks: try JSONEncoder().encode(jwks)).verify(token)
            asked = try await client(gamma.key).verifyEntitlementToken(body: .json(.init(token: token))).ok.body.json
        }
        check("a token verified offline", expected: "an ES256 token for the bank's entitlement, valid offline and for pdx",
              observed: offline.map { "token for entitlement \($0.ent.prefix(8))…, scenario \($0.scn ?? "-"), purpose \($0.pur); pdx says \(asked?.valid == true ? "valid" : "not valid")" }
                  ?? "no token verified",
              offline?.ent == entitlementID && offline?.aud == gamma.id.uuidString.lowercased() && asked?.valid == true)
        var receipt: Components.Schemas.UsageReceipt?
        if let entitlementID {
            let now = Date()
            // Three events, one of them sent twice (a gateway retrying a flush): counted once.
            receipt = try await client(gamma.key).reportUsage(body: .json(.init(events: [("gw-1", 250), ("gw-2", 150), ("gw-1", 250)].map {
                .init(eventId: "demo-\(city)-\($0.0)", entitlementId: entitlementID, units: Int64($0.1), occurredAt: now)
            }))).ok.body.json
        }
        check("usage counted once", expected: "2 events counted, 1 duplicate; 400 of 1,000 records used",
              observed: receipt.map { "\($0.accepted) counted, \($0.duplicates) duplicate; \($0.entitlements.first?.unitsUsed ?? 0) used, \($0.entitlements.first?.unitsLeft ?? 0) left" }
                  ?? "no usage reported",
              receipt?.accepted == 2 && receipt?.duplicates == 1 && receipt?.entitlements.first?.unitsUsed == 400 && receipt?.entitlements.first?.unitsLeft == 600)
        // A month later: as an administrator (through the database), the demo moves its own delivery and usage back one month, then closes
        // that month as `pdxctl billing close` does; the bank reads its statement through the API.
        let month = BillingPeriod(containing: try await store.now()).previous
        var statement: Components.Schemas.Statement?, settlement: SettlementReport?
        if let entitlementID, let id = UUID(uuidString: entitlementID) {
            let closedAlready = try await store.pool.query("SELECT count(*) FROM billing_periods WHERE period = \(month.first)").scalar(Int64.self) ?? 0 > 0
            if closedAlready {
                say("   (\(month) is already closed on this stack: its billing is not told again)")
            } else {
                try await store.pool.execute("UPDATE entitlements SET starts_at = \(month.start + 86_400) WHERE id = \(id)")
                try await store.pool.execute("UPDATE usage_daily SET day = \(month.first.adding(days: 1)) WHERE entitlement_id = \(id)")
                try await store.pool.execute("UPDATE usage_events SET occurred_at = \(month.start + 86_400 + 60) WHERE entitlement_id = \(id)")
                say("   $ pdxctl billing close --period \(month)")
                _ = try await store.closePeriods(through: month, by: "pdx demo")
                statement = try await client(bank.key).listStatements(query: .init(period: month.description)).ok.body.json.items
                    .first { $0.entitlementId == entitlementID }
                for line in statement?.lines ?? [] { say("     \(line.step): \(line.detail) → \(line.amountFen) fen") }
                say("   $ pdxctl settlement report --period \(month)")
                settlement = try await store.settlementReport(month)
            }
        }
        let gammaNet = settlement?.lines.first { $0.partyID == gamma.id }?.netFen, agencyNet = settlement?.lines.first { $0.partyID == agency.id }?.netFen
        check("a month billed and settled", expected: "a statement of 400 records at 20 fen = 8,000 fen; the ledger balances: Gamma 7,200, the agency 800",
              observed: statement.map { "statement \($0.number): \($0.units) records, \($0.amountFen) fen; ledger \(settlement?.balanced == true ? "balanced" : "NOT balanced"), "
                  + "Gamma \(gammaNet.map { "\($0)" } ?? "-"), the agency \(agencyNet.map { "\($0)" } ?? "-")" } ?? "no statement",
              statement?.units == 400 && statement?.amountFen == 8_000 && settlement?.balanced == true && gammaNet == 7_200 && agencyNet == 800)

        say("12. Important data stays in the sandbox (可用不可见): Gamma loads travel records; the bank gets noisy aggregates, never a row.")
        var sandbox: String?
        if let grant = grantGamma.id, case .created(let registered) = try await asAgency.registerResource(body: .json(.init(
            title: "出行轨迹 travel records", sector: "transport", regionCode: city, grade: .important))) {
            let content = Components.Schemas.ProductContent(title: "出行时长沙箱 trip time sandbox", sector: "transport", regions: [city],
                                                            scenarios: ["traffic_planning"], fields: ["district", "trip_minutes"], deliveryModes: [.sandbox],
                                                            chargeUnit: .call, listPriceFen: 500, sourceResourceIds: [try registered.body.json.id])
            if case .created(let created) = try await client(gamma.key).createProduct(body: .json(.init(value1: content, value2: .init(authorizationId: grant)))),
               case .ok = try await client(gamma.key).listProduct(path: .init(id: try created.body.json.id)) {
                sandbox = try created.body.json.id
            }
        }
        var analysis: Components.Schemas.SandboxAnalysis?, audit: Components.Schemas.SandboxAnalysis?
        if let sandbox, let product = UUID(uuidString: sandbox) {
            // Five districts of 30 to 70 travellers, and the harbour with 4: fewer than k = 10.
            var csv = "traveller_id,phone,district,hour,trip_minutes\n"
            for (district, travellers) in [("东城 East", 70), ("西城 West", 55), ("南城 South", 40), ("北城 North", 35), ("新区 New Town", 30), ("港区 Harbour", 4)] {
                for n in 0..<travellers {
                    for trip in 0..<3 { csv += "\(city)-\(district.prefix(2))-\(n),1380000\(n),\(district),\(7 + trip * 5),\(10 + (n * 7 + trip * 13) % 50)\n" }
                }
            }
            say("   $ pdxctl sandbox load --product \(sandbox) --file trips.csv --entity traveller_id --dimension district --dimension hour:integer \\")
            say("         --measure trip_minutes=0..180 --hidden phone")
            let columns = [SandboxColumn(name: "traveller_id", role: .entity, type: .text), SandboxColumn(name: "phone", role: .hidden, type: .text),
                           SandboxColumn(name: "district", role: .dimension, type: .text), SandboxColumn(name: "hour", role: .dimension, type: .integer),
                           SandboxColumn(name: "trip_minutes", role: .measure, type: .number, lower: 0, upper: 180)]
            _ = try await store.loadSandboxDataset(product: product, columns: columns, settings: SandboxSettings(), csv: Data(csv.utf8), by: admin)
            let asBank = client(bank.key)
            if case .created(let created) = try await asBank.placeOrder(headers: .init(idempotencyKey: "demo-\(city)-sandbox"), body: .json(.init(
                productId: sandbox, quantity: 20, purpose: .industryDevelopment, scenario: "traffic_planning"))) {
                let order = try created.body.json.id
                _ = try await client(gamma.key).acceptOrder(path: .init(id: order), body: .json(.init()))
                _ = try await client(gamma.key).deliverOrder(path: .init(id: order), body: .json(.init()))
            }
            // An analysis, not a query: distinct travellers and their mean trip time per district; a worker runs it.
            if case .accepted(let accepted) = try await asBank.submitSandboxAnalysis(body: .json(.init(
                productId: sandbox, measures: [.init(statistic: .countEntities), .init(statistic: .mean, column: "trip_minutes")],
                groupBy: ["district"], epsilon: 1))) {
                let id = try accepted.body.json.id
                let deadline = ContinuousClock.now + .seconds(60)
                repeat {
                    try await Task.sleep(for: .milliseconds(100))
                    analysis = try await asBank.getSandboxAnalysis(path: .init(id: id)).ok.body.json
                } while (analysis?.state == .queued || analysis?.state == .running) && ContinuousClock.now < deadline
                for group in analysis?.result?.groups ?? [] {
                    let figures = group.figures.map { String(format: "%@ %.1f ± %.1f", $0.statistic.rawValue, $0.value, $0.error ?? 0) }
                    say("     \(group.keys.first.flatMap { $0 } ?? "-"): \(figures.joined(separator: ", "))")
                }
                say("   $ pdxctl sandbox audit --product \(sandbox)")
                audit = try await asAgency.listSandboxAnalyses(query: .init(productId: sandbox)).ok.body.json.items.first
            }
        }
        let shown = analysis?.result?.groups.compactMap { $0.keys.first.flatMap { $0 } } ?? []
        check("important data analysed in a sandbox", expected: "5 districts shown with noise, the harbour's 4 travellers kept back; the agency audits it",
              observed: analysis.map { "\($0.state.rawValue): \(shown.count) districts shown, epsilon \($0.epsilon) spent; "
                  + "the agency's audit: \(audit?.groupsSuppressed.map { "\($0) group suppressed" } ?? "nothing")" } ?? "no analysis",
              analysis?.state == .done && shown.count == 5 && !shown.contains("港区 Harbour") && audit?.groupsSuppressed == 1)
        return steps.all
    }

    /// What a call answered: its status (0: another answer, described in `code`), and the id created or
    /// the problem's code.
    struct Outcome {
        var status: Int
        var id: String?
        var code: String?
    }

    /// A city-level code (two digits of a province, two of a city, "00") that no authorization's regions
    /// cover or lie within yet (regions nest: a grant for Shanghai covers every city code of 31).
    func freeCity() async throws -> String {
        let provinces = ["32", "33", "34", "35", "36", "37", "41", "42", "43", "44", "45", "50", "51", "52", "53"]
        for _ in 0..<50 {
            let city = provinces.randomElement()! + String(format: "%02d", Int.random(in: 1...90)) + "00"
            let taken = try await store.pool.query("""
                SELECT count(*) FROM authorizations WHERE pdx_regions_overlap(regions, ARRAY[\(city)::text])
                """).scalar(Int64.self) ?? 0
            if taken == 0 { return city }
        }
        throw LocalPostgresError("no free city code for the demo")
    }
}

extension Operations.Readyz.Output {
    var isOK: Bool { if case .ok = self { true } else { false } }
}
