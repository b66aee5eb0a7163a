import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import JobQueue
import LocalPostgres
import Logging
import Market
import MarketAPI
import MarketConsole
import MarketStore
import PDXTestSupport
import Postgres
import Testing

/// The console (`/console`) in a test client: signing in with keys, sessions and their cookies, CSRF, who
/// may open which page, the numbers pages show against SQL, and output escaped.
@Suite struct ConsoleTests {
    /// A signed-in browser: its session cookie and the CSRF token its pages carry.
    struct Browser {
        var cookie: String
        var csrf: String

        var headers: HTTPFields { [.cookie: "pdx_session=\(cookie)"] }
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    static func cookies(_ response: TestResponse) -> [String] { response.headers[values: .setCookie] }

    /// Signs in through the form, as a browser does: the sign-in page's guard cookie and field, then the key.
    static func signIn(_ client: some TestClientProtocol, key: String) async throws -> Browser {
        let form = try await client.execute(uri: "/console/sign-in", method: .get)
        #expect(form.status == .ok)
        let guardCookie = try #require(cookies(form).first { $0.hasPrefix("pdx_sign_in=") })
        let guardToken = String(guardCookie.dropFirst("pdx_sign_in=".count).prefix { $0 != ";" })
        let signedIn = try await client.execute(uri: "/console/sign-in", method: .post,
                                                headers: [.cookie: "pdx_sign_in=\(guardToken)", .contentType: "application/x-www-form-urlencoded"],
                                                body: ByteBuffer(string: "guard=\(guardToken)&key=\(key)"))
        #expect(signedIn.status == .seeOther, "\(text(signedIn))")
        let session = try #require(cookies(signedIn).first { $0.hasPrefix("pdx_session=") })
        let token = String(session.dropFirst("pdx_session=".count).prefix { $0 != ";" })
        let home = try await client.execute(uri: "/console", method: .get, headers: [.cookie: "pdx_session=\(token)"])
        #expect(home.status == .ok)
        let csrf = try #require(text(home).firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/)?.1)
        return Browser(cookie: token, csrf: String(csrf))
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, _ browser: Browser?, _ fields: [String: String]) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let browser { headers[.cookie] = "pdx_session=\(browser.cookie)" }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let body = fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    static func admin(_ market: APIMarket, name: String = "alice") async throws -> String {
        try await market.store.createAdminKey(name: name, by: .administrator("test")).token
    }

    @Test func signingInOpensASessionWhoseCookieIsHttpOnlyStrictAndSecure() async throws {
        try await withAPI { market, client in
            // Not signed in: every page sends the browser to the sign-in form, keeping where it was going.
            let away = try await client.execute(uri: "/console/queue", method: .get)
            #expect(away.status == .seeOther && away.headers[.location] == "/console/sign-in?next=%2Fconsole%2Fqueue")
            let form = try await client.execute(uri: "/console/sign-in", method: .get)
            #expect(Self.text(form).contains("<form id=\"sign-in\""))
            let policy = try #require(form.headers[.contentSecurityPolicy])
            #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'") && !policy.contains("unsafe"))
            #expect(form.headers[.xContentTypeOptions] == "nosniff")

            let key = try await Self.admin(market)
            let guardToken = try #require(Self.cookies(form).first?.firstMatch(of: /pdx_sign_in=([0-9a-f]{64})/)?.1)
            let signedIn = try await client.execute(uri: "/console/sign-in", method: .post,
                                                    headers: [.cookie: "pdx_sign_in=\(guardToken)", .contentType: "application/x-www-form-urlencoded"],
                                                    body: ByteBuffer(string: "guard=\(guardToken)&key=\(key)&next=%2Fconsole%2Fqueue"))
            #expect(signedIn.status == .seeOther && signedIn.headers[.location] == "/console/queue")
            let cookie = try #require(Self.cookies(signedIn).first { $0.hasPrefix("pdx_session=") })
            let flags = Set(cookie.split(separator: ";").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) })
            #expect(flags.isSuperset(of: ["HttpOnly", "SameSite=Strict", "Secure", "Path=/console"]), "\(cookie)")
            let token = String(try #require(cookie.firstMatch(of: /pdx_session=([0-9a-f]{64})/)?.1))
            // Only the token's SHA-256 is stored, with the session's expiry; the sign-in is audited.
            let rows = try await market.pool.query("SELECT token_sha256, expires_at > now() + interval '11 hours', admin_key_id IS NOT NULL FROM console_sessions")
            let row = try #require(rows.first)
            let (hash, lasts, admin) = try row.decode(Data.self, Bool.self, Bool.self)
            #expect(rows.count == 1 && hash.count == 32 && lasts && admin)
            #expect(try await market.pool.query("SELECT count(*) FROM console_sessions WHERE token_sha256::text LIKE '%' || \(token) || '%'").scalar(Int64.self) == 0)
            #expect(try await market.pool.query("SELECT count(*) FROM audit_events WHERE action = 'console.sign_in' AND actor = 'admin:alice'").scalar(Int64.self) == 1)
            let home = try await client.execute(uri: "/console", method: .get, headers: [.cookie: "pdx_session=\(token)"])
            #expect(home.status == .ok && Self.text(home).contains("Market overview") && Self.text(home).contains("administrator alice"))

            // A wrong key, no guard, another site's guard: refused, no session.
            let wrong = try await client.execute(uri: "/console/sign-in", method: .post,
                                                 headers: [.cookie: "pdx_sign_in=\(guardToken)", .contentType: "application/x-www-form-urlencoded"],
                                                 body: ByteBuffer(string: "guard=\(guardToken)&key=pdxadm_000000000000_\(String(repeating: "0", count: 48))"))
            #expect(wrong.status == .unauthorized && Self.text(wrong).contains("not known"))
            let unguarded = try await client.execute(uri: "/console/sign-in", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                     body: ByteBuffer(string: "key=\(key)"))
            #expect(unguarded.status == .forbidden)
            let forged = try await client.execute(uri: "/console/sign-in", method: .post,
                                                  headers: [.cookie: "pdx_sign_in=\(String(repeating: "a", count: 64))", .contentType: "application/x-www-form-urlencoded"],
                                                  body: ByteBuffer(string: "guard=\(String(repeating: "b", count: 64))&key=\(key)"))
            #expect(forged.status == .forbidden)
            // Never to another site after signing in.
            for next in ["https://evil.example/", "//evil.example/console", "/console//evil.example", "/console\\evil", "/console/sign-out", "/v1/demands"] {
                #expect(Console.safeNext(next) == "/console", "\(next)")
            }
            #expect(Console.safeNext("/console/queue?x=1") == "/console/queue?x=1")
            #expect(try await market.pool.query("SELECT count(*) FROM console_sessions").scalar(Int64.self) == 1)

            // Signing out ends the session (a form, with the CSRF token) and clears the cookie.
            let csrf = try #require(Self.text(home).firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/)?.1)
            let out = try await Self.post(client, "/console/sign-out", Browser(cookie: token, csrf: String(csrf)), ["csrf": String(csrf)])
            #expect(out.status == .seeOther && Self.cookies(out).contains { $0.hasPrefix("pdx_session=;") && $0.contains("Max-Age=0") })
            #expect(try await client.execute(uri: "/console", method: .get, headers: [.cookie: "pdx_session=\(token)"]).status == .seeOther)
            #expect(try await market.pool.query("SELECT count(*) FROM console_sessions WHERE ended_at IS NOT NULL").scalar(Int64.self) == 1)
        }
    }

    @Test func inDevelopmentTheCookieIsNotSecure() async throws {
        try await withAPI(APIConfiguration(rateLimit: nil, console: ConsoleConfiguration(secureCookies: false))) { market, client in
            let key = try await Self.admin(market)
            let form = try await client.execute(uri: "/console/sign-in", method: .get)
            let guardToken = try #require(Self.cookies(form).first?.firstMatch(of: /pdx_sign_in=([0-9a-f]{64})/)?.1)
            let signedIn = try await client.execute(uri: "/console/sign-in", method: .post,
                                                    headers: [.cookie: "pdx_sign_in=\(guardToken)", .contentType: "application/x-www-form-urlencoded"],
                                                    body: ByteBuffer(string: "guard=\(guardToken)&key=\(key)"))
            let cookie = try #require(Self.cookies(signedIn).first { $0.hasPrefix("pdx_session=") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"))
        }
    }

    @Test func everyPageAndFormIsRefusedToTheRolesItIsNotFor() async throws {
        try await withAPI { market, client in
            let admin = try await Self.signIn(client, key: try await Self.admin(market))
            let operatorBrowser = try await Self.signIn(client, key: market.operatorKey)
            let other = try await Self.signIn(client, key: market.otherOperatorKey)
            let agency = try await Self.signIn(client, key: market.agencyKey)
            let demander = try await Self.signIn(client, key: market.demanderKey)
            let rule = try await market.store.addPricingRule(.cap(maxUnitPriceFen: 1_000), reviewBy: Date() + 86_400 * 100, author: "admin:test", reason: "a cap")
            let product = market.product.uuidString.lowercased()
            let adminPages = ["/console/gaps", "/console/matches", "/console/queue", "/console/pricing", "/console/pricing/\(rule.id)", "/console/revenue",
                              "/console/audit", "/console/events?topic=queue"]
            for page in adminPages {
                for browser in [operatorBrowser, agency, demander] {
                    let response = try await client.execute(uri: page, method: .get, headers: browser.headers)
                    #expect(response.status == .forbidden, "\(page)")
                }
                // Not signed in: to the sign-in form (a page) or refused (the event stream).
                #expect([.seeOther, .forbidden].contains(try await client.execute(uri: page, method: .get).status), "\(page)")
            }
            for page in adminPages.dropLast() {
                let response = try await client.execute(uri: page, method: .get, headers: admin.headers)
                #expect(response.status == .ok, "\(page): \(Self.text(response).prefix(400))")
            }
            // Any other console path: a page of the console that says so.
            let nowhere = try await client.execute(uri: "/console/nowhere/at/all", method: .get, headers: admin.headers)
            #expect(nowhere.status == .notFound && Self.text(nowhere).contains("There is no such page"))
            // An operator's product page: its operator only.
            #expect(try await client.execute(uri: "/console/products/\(product)", method: .get, headers: operatorBrowser.headers).status == .ok)
            #expect(try await client.execute(uri: "/console/products/\(product)", method: .get, headers: other.headers).status == .notFound)
            for browser in [admin, agency, demander] {
                #expect(try await client.execute(uri: "/console/products/\(product)", method: .get, headers: browser.headers).status == .forbidden)
            }
            // Each role's home is its own.
            #expect(Self.text(try await client.execute(uri: "/console", method: .get, headers: operatorBrowser.headers)).contains("路况指数 traffic index"))
            #expect(!Self.text(try await client.execute(uri: "/console", method: .get, headers: other.headers)).contains("路况指数 traffic index"))
            #expect(Self.text(try await client.execute(uri: "/console", method: .get, headers: agency.headers)).contains("数据运营甲"))
            #expect(Self.text(try await client.execute(uri: "/console", method: .get, headers: demander.headers)).contains("My demands and orders"))
            // Forms: refused to parties even with their own valid CSRF token, and to nobody signed in; nothing changes.
            let forms: [(String, [String: String])] = [
                ("/console/pricing", ["kind": "cap", "max_unit_price_fen": "5", "review_by": "2030-01-01", "reason": "x"]),
                ("/console/pricing/\(rule.id)", ["max_unit_price_fen": "5", "review_by": "2030-01-01", "reason": "x"]),
                ("/console/pricing/\(rule.id)/retire", ["reason": "x"]),
                ("/console/queue/1/retry", ["reason": "x"]),
                ("/console/queue/1/cancel", ["reason": "x"]),
            ]
            for (uri, fields) in forms {
                for browser in [operatorBrowser, agency, demander] {
                    var fields = fields
                    fields["csrf"] = browser.csrf
                    #expect(try await Self.post(client, uri, browser, fields).status == .forbidden, "\(uri)")
                }
                #expect(try await Self.post(client, uri, nil, fields).status == .forbidden, "\(uri)")
            }
            #expect(try await market.store.pricingRuleHistory(rule.id).count == 1)
            #expect(try await market.pool.query("SELECT count(*) FROM pricing_rules").scalar(Int64.self) == 1)
        }
    }

    @Test func aPricingChangeNeedsTheSessionsCSRFTokenAndIsAuditedLikePdxctls() async throws {
        try await withAPI { market, client in
            let alice = try await Self.signIn(client, key: try await Self.admin(market))
            let bob = try await Self.signIn(client, key: try await Self.admin(market, name: "bob"))
            let fields = ["kind": "cap", "max_unit_price_fen": "40", "review_by": "2030-06-30", "reason": "cap transport at 40 fen", "sector": "transport"]
            // No token, another session's token, a made-up one: refused, nothing added.
            #expect(try await Self.post(client, "/console/pricing", alice, fields).status == .forbidden)
            #expect(try await Self.post(client, "/console/pricing", alice, fields.merging(["csrf": bob.csrf]) { $1 }).status == .forbidden)
            #expect(try await Self.post(client, "/console/pricing", alice, fields.merging(["csrf": String(repeating: "0", count: 64)]) { $1 }).status == .forbidden)
            #expect(try await market.pool.query("SELECT count(*) FROM pricing_rules").scalar(Int64.self) == 0)
            // With it: added, by admin:alice with her reason, as `pdxctl pricing add` would.
            let added = try await Self.post(client, "/console/pricing", alice, fields.merging(["csrf": alice.csrf]) { $1 })
            #expect(added.status == .seeOther)
            let id = try #require(added.headers[.location]?.firstMatch(of: /\/console\/pricing\/([0-9]+)\?done=added/)?.1).description
            let number = try #require(Int64(id))
            let history = try await market.store.pricingRuleHistory(number)
            #expect(history.count == 1 && history[0].author == "alice" && history[0].reason == "cap transport at 40 fen")
            #expect(history[0].rule.kind == .cap(maxUnitPriceFen: 40) && history[0].rule.scope.sector == "transport")
            #expect(try await market.pool.query("""
                SELECT count(*) FROM audit_events WHERE action = 'pricing.add' AND actor = 'admin:alice' AND subject_id = \(id) AND reason = 'cap transport at 40 fen'
                """).scalar(Int64.self) == 1)
            let page = Self.text(try await client.execute(uri: "/console/pricing/\(id)?done=added", method: .get, headers: alice.headers))
            #expect(page.contains("Rule added.") && page.contains("at most 40 fen per unit") && page.contains("<td>alice</td>"))
            // A raise (a lower cap is no raise; a higher one lifts a limit: not a raise either, so at once); a tier rule
            // added where none applied raises prices: it waits for the notice period, as pdxctl's would.
            let tiers = try await Self.post(client, "/console/pricing", alice, ["kind": "tiers", "band": "1-100:90\n101-:x800", "review_by": "2030-06-30",
                                                                               "reason": "tiers", "csrf": alice.csrf])
            #expect(tiers.status == .seeOther)
            let tierID = try #require(tiers.headers[.location]?.firstMatch(of: /\/console\/pricing\/([0-9]+)/)?.1).description
            let tierNumber = try #require(Int64(tierID))
            let tier = try #require(try await market.store.pricingRuleHistory(tierNumber).last?.rule)
            #expect(tier.effectiveAt > Date() + 29 * 86_400, "a rule that can raise a price waits for the notice period")
            let early = try await Self.post(client, "/console/pricing/\(tierID)", alice, ["band": "1-100:95", "review_by": "2030-06-30", "reason": "sooner",
                                                                                         "effective_at": utcDay(Date() + 2 * 86_400), "csrf": alice.csrf])
            #expect(early.status == .badRequest && Self.text(early).contains("effective_at"))
            // Bad input names the field and keeps what is stored.
            let bad = try await Self.post(client, "/console/pricing", alice, ["kind": "cap", "review_by": "2030-06-30", "reason": "x", "csrf": alice.csrf])
            #expect(bad.status == .badRequest && Self.text(bad).contains("max_unit_price_fen"))
            let notNumber = try await Self.post(client, "/console/pricing", alice, ["kind": "cap", "max_unit_price_fen": "lots", "review_by": "2030-06-30",
                                                                                   "reason": "x", "csrf": alice.csrf])
            #expect(notNumber.status == .badRequest && Self.text(notNumber).contains("max_unit_price_fen"))
            let nul = try await Self.post(client, "/console/pricing", alice, ["kind": "cap", "max_unit_price_fen": "5", "review_by": "2030-06-30",
                                                                             "sector": "trans\u{0}port", "reason": "x", "csrf": alice.csrf])
            #expect(nul.status == .badRequest && Self.text(nul).contains("sector"))
            #expect(try await market.pool.query("SELECT count(*) FROM pricing_rules").scalar(Int64.self) == 2)
            // Retiring, with a reason; a retired rule offers no more forms.
            let retired = try await Self.post(client, "/console/pricing/\(id)/retire", alice, ["reason": "no longer needed", "csrf": alice.csrf])
            #expect(retired.status == .seeOther)
            #expect(try await market.pool.query("SELECT count(*) FROM audit_events WHERE action = 'pricing.retire' AND actor = 'admin:alice'").scalar(Int64.self) == 1)
            // The audit trail by an action's prefix: the pricing changes, nothing else.
            let pricingEvents = try await market.store.auditEvents(AuditQuery(action: "pricing."))
            #expect(Set(pricingEvents.map(\.action)) == ["pricing.add", "pricing.retire"] && pricingEvents.count == 3)
            let audit = Self.text(try await client.execute(uri: "/console/audit?action=pricing.&actor=admin%3Aalice", method: .get, headers: alice.headers))
            #expect(audit.contains("<code>pricing.retire</code>") && !audit.contains("<code>console.sign_in</code>"))
            // The preview quotes as the store does.
            let preview = Self.text(try await client.execute(uri: "/console/pricing?product=\(market.product.uuidString.lowercased())&buyer=\(market.demander.id.uuidString.lowercased())&quantity=10&purpose=industry_development",
                                                             method: .get, headers: alice.headers))
            let quote = try await market.store.quote(product: market.product, quantity: 10, purpose: .industryDevelopment, buyer: market.demander.id)
            #expect(preview.contains("id=\"quote\"") && preview.contains("¥\(quote.amountFen / 100).\(String(format: "%02d", quote.amountFen % 100))"))
        }
    }

    @Test func revokingTheKeyOrSuspendingThePartyEndsTheSession() async throws {
        try await withAPI { market, client in
            let key = try await market.store.createAdminKey(name: "carol", by: .administrator("test"))
            let admin = try await Self.signIn(client, key: key.token)
            let operatorBrowser = try await Self.signIn(client, key: market.operatorKey)
            let demander = try await Self.signIn(client, key: market.demanderKey)
            try await market.store.revokeAdminKey(key.key.id, reason: "left", by: .administrator("test"))
            #expect(try await client.execute(uri: "/console", method: .get, headers: admin.headers).status == .seeOther)
            #expect(try await Self.post(client, "/console/pricing", admin, ["csrf": admin.csrf, "kind": "exemption", "review_by": "2030-01-01", "reason": "x"]).status == .forbidden)
            let operatorKey = try #require(try await market.store.apiKeys(party: market.operatorParty.id).first)
            try await market.store.revokeAPIKey(operatorKey.id, reason: "leaked", by: .administrator("test"))
            #expect(try await client.execute(uri: "/console", method: .get, headers: operatorBrowser.headers).status == .seeOther)
            _ = try await market.store.changeParty(market.demander.id, to: .suspended, reason: "unpaid", by: .administrator("test"))
            #expect(try await client.execute(uri: "/console", method: .get, headers: demander.headers).status == .seeOther)
            // A session past its expiry is over, whatever its key.
            let agency = try await Self.signIn(client, key: market.agencyKey)
            _ = try await market.pool.query("""
                UPDATE console_sessions SET created_at = now() - interval '13 hours', expires_at = now() - interval '1 hour' WHERE token_sha256 = sha256(\(Data(agency.cookie.utf8)))
                """)
            #expect(try await client.execute(uri: "/console", method: .get, headers: agency.headers).status == .seeOther)
            // A suspended party cannot sign in either; it is told why.
            let form = try await client.execute(uri: "/console/sign-in", method: .get)
            let guardToken = try #require(Self.cookies(form).first?.firstMatch(of: /pdx_sign_in=([0-9a-f]{64})/)?.1)
            let refused = try await client.execute(uri: "/console/sign-in", method: .post,
                                                   headers: [.cookie: "pdx_sign_in=\(guardToken)", .contentType: "application/x-www-form-urlencoded"],
                                                   body: ByteBuffer(string: "guard=\(guardToken)&key=\(market.demanderKey)"))
            #expect(refused.status == .unauthorized && Self.text(refused).contains("suspended"))
            // An administrator's key calls no API.
            #expect(try await client.execute(uri: "/v1/demands", method: .get, headers: [.authorization: "Bearer \(try await Self.admin(market))"]).status == .unauthorized)
        }
    }

    @Test func theOverviewShowsTheDatabasesOwnNumbers() async throws {
        try await withAPI { market, client in
            let store = market.store
            func demand(_ title: String, sector: String, regions: [String]) async throws -> UUID {
                try await store.postDemand(try SeeingTests.request(title, sector: sector, regions: regions), demander: market.demander.id, open: true,
                                           by: .party(market.demander.id))
            }
            let matched = try await demand("路线 routes", sector: "transport", regions: ["310000"])
            _ = try await demand("拥堵 congestion", sector: "transport", regions: ["310115", "110000"])
            _ = try await demand("信贷 credit", sector: "finance", regions: ["110000"])
            _ = try await store.postDemand(try SeeingTests.request("草稿 draft"), demander: market.demander.id, open: false, by: .party(market.demander.id))
            let proposals = try await store.matchDemand(matched)
            #expect(!proposals.proposed.isEmpty)
            let overview = try await store.marketOverview(days: 30)
            // The SQL truth, written out independently of the overview's query.
            let opened = try await market.pool.query("SELECT count(*) FROM demands WHERE state <> 'draft'").scalar(Int64.self)
            let withProposal = try await market.pool.query("SELECT count(DISTINCT demand_id) FROM matches").scalar(Int64.self)
            let listed = try await market.pool.query("SELECT count(*) FROM products WHERE state = 'listed'").scalar(Int64.self)
            let live = try await market.pool.query("SELECT count(*) FROM matches WHERE state = 'proposed'").scalar(Int64.self)
            #expect(overview.opened.reduce(0, +) == Int(opened ?? -1) && opened == 3)
            #expect(overview.matched.reduce(0, +) == Int(withProposal ?? -1) && withProposal == 1)
            #expect(overview.opened.last == 3 && overview.days.count == 30, "today is the last day")
            #expect(overview.listedProducts == Int(listed ?? -1) && overview.liveProposals == Int(live ?? -1) && overview.liveDemands == 3)
            let transport = try #require(overview.bySector.first { $0.code == "transport" })
            #expect(transport.opened == 2 && transport.matched == 1 && overview.bySector.first { $0.code == "finance" }?.matched == 0)
            // By province: Shanghai holds both transport demands (310115 is inside it), Beijing two.
            let shanghai = try #require(overview.byRegion.first { $0.code == "310000" })
            #expect(shanghai.opened == 2 && shanghai.matched == 1)
            #expect(overview.byRegion.first { $0.code == "110000" }?.opened == 2)
            #expect(overview.firstProposal.reduce(0, +) == 1 && overview.firstProposal[0] == 1 && overview.waitingForFirstProposal == 2)
            // The page shows them: the tiles and the per-day table.
            let admin = try await Self.signIn(client, key: try await Self.admin(market))
            let page = Self.text(try await client.execute(uri: "/console", method: .get, headers: admin.headers))
            #expect(page.contains("<div class=\"value\">\(listed ?? -1)</div><div class=\"name\">products listed</div>"))
            #expect(page.contains("data-live=\"overview\"") && page.contains("<svg") && page.contains("<details class=\"plot-table\">"))
            let today = try #require(overview.days.last)
            #expect(page.contains(today), "the table fallback holds today's row")
            #expect(page.contains("交通运输") || page.contains("transport"))
            // And in Chinese.
            let chinese = try await client.execute(uri: "/console?lang=zh", method: .get, headers: admin.headers)
            #expect(Self.text(chinese).contains("市场概览") && Self.cookies(chinese).contains { $0.hasPrefix("pdx_lang=zh") })
        }
    }

    @Test func theQueuePageRetriesAndCancelsJobsWithAReason() async throws {
        try await withAPI { market, client in
            let admin = try await Self.signIn(client, key: try await Self.admin(market))
            // Two failed jobs: one discarded, one retryable; one completed within the hour; one scheduled for tomorrow.
            let ids = try await market.pool.query("""
                INSERT INTO pdx_jobs (queue, kind, args, state, attempt, max_attempts, errors, finalized_at, scheduled_at)
                VALUES ('default', 'test_kind', '{}', 'discarded', 3, 3, jsonb_build_array(jsonb_build_object('at', now(), 'attempt', 3, 'error', 'boom <b>')), now(), now()),
                       ('default', 'test_kind', '{}', 'retryable', 1, 3, jsonb_build_array(jsonb_build_object('at', now(), 'attempt', 1, 'error', 'flaky')), NULL, now() - interval '1 second'),
                       ('default', 'other_kind', '{}', 'completed', 1, 3, '[]', now(), now()),
                       ('default', 'test_kind', '{}', 'scheduled', 0, 3, '[]', NULL, now() + interval '1 day')
                RETURNING id
                """).map { try $0.decode(Int64.self) }
            let page = Self.text(try await client.execute(uri: "/console/queue", method: .get, headers: admin.headers))
            #expect(page.contains("boom &lt;b&gt;") && !page.contains("boom <b>"), "errors are escaped")
            #expect(page.contains("/console/queue/\(ids[0])/retry") && page.contains("/console/queue/\(ids[1])/cancel"))
            let hourly = try await market.store.queueActivity(hours: 24).hourly
            #expect(hourly.completed["other_kind"]?.last == 1 && hourly.failed["test_kind"]?.last == 2 && hourly.hours.count == 24)
            #expect(hourly.depth["test_kind"]?.last == 1, "the retryable job is due and waiting; the one scheduled for tomorrow is not")
            // No reason: refused, nothing changes.
            #expect(try await Self.post(client, "/console/queue/\(ids[0])/retry", admin, ["csrf": admin.csrf]).status == .badRequest)
            let retried = try await Self.post(client, "/console/queue/\(ids[0])/retry", admin, ["csrf": admin.csrf, "reason": "the bug is fixed"])
            #expect(retried.status == .seeOther && retried.headers[.location] == "/console/queue?done=retry")
            let cancelled = try await Self.post(client, "/console/queue/\(ids[1])/cancel", admin, ["csrf": admin.csrf, "reason": "not needed"])
            #expect(cancelled.status == .seeOther)
            let states = try await market.pool.query("SELECT state::text FROM pdx_jobs WHERE id = ANY(\(ids)) ORDER BY id").map { try $0.decode(String.self) }
            #expect(states == ["available", "cancelled", "completed", "scheduled"])
            #expect(try await market.pool.query("""
                SELECT count(*) FROM audit_events WHERE actor = 'admin:alice' AND ((action = 'job.retry' AND reason = 'the bug is fixed')
                    OR (action = 'job.cancel' AND reason = 'not needed'))
                """).scalar(Int64.self) == 2)
            // A completed job cannot be retried: a conflict, said on the page.
            #expect(try await Self.post(client, "/console/queue/\(ids[2])/retry", admin, ["csrf": admin.csrf, "reason": "again"]).status == .conflict)
        }
    }

    @Test func liveQueuePagesHearOfNewJobsThroughServerSentEvents() async throws {
        try await withAPI(live: true) { market, client in
            let listener = try PostgresListener(configuration: market.pool.configuration.connection, logger: Logger(label: "test"))
            defer { listener.shutdown() }
            var configuration = APIConfiguration(rateLimit: nil)
            configuration.console = ConsoleConfiguration(secureCookies: false, listener: listener)
            let app = Application(router: try MarketAPI.router(store: market.store, configuration: configuration),
                                  configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { live in
                let admin = try await Self.signIn(live, key: try await Self.admin(market))
                let port = try #require(live.port)
                // A browser's EventSource, played by curl, reading the stream until it is stopped.
                let curl = ChildProcess()
                curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                let file = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pdx-events-\(UUID().uuidString).txt")
                defer { try? FileManager.default.removeItem(at: file) }
                curl.arguments = ["curl", "-s", "-N", "--max-time", "120", "-o", file.path, "-H", "Cookie: pdx_session=\(admin.cookie)",
                                  "http://127.0.0.1:\(port)/console/events?topic=queue"]
                try curl.run()
                defer { if curl.isRunning { curl.terminate() } }
                // The listener's connection starts with the stream's subscription: notify once it LISTENs (a busy
                // machine takes its time).
                let deadline = ContinuousClock.now + .seconds(90)
                while try await market.pool.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%pdx_jobs%'").scalar(Int64.self) ?? 0 < 1,
                      ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                }
                _ = try await market.pool.query("SELECT pg_notify('pdx_jobs', 'default')")
                // What curl has written, until the event arrives or a minute passes (without blocking a thread).
                var stream = ""
                let reading = ContinuousClock.now + .seconds(60)
                while !stream.contains("event: refresh"), ContinuousClock.now < reading {
                    try await Task.sleep(for: .milliseconds(100))
                    stream = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
                }
                kill(curl.processIdentifier, SIGKILL)
                while curl.isRunning { try await Task.sleep(for: .milliseconds(20)) }
                #expect(stream.hasPrefix("retry: 5000"), "\(stream)")
                #expect(stream.contains("event: refresh\ndata: pdx_jobs\n\n"), "\(stream)")
                // Not for parties, and only for the live pages' topics.
                let operatorBrowser = try await Self.signIn(live, key: market.operatorKey)
                #expect(try await live.execute(uri: "/console/events?topic=queue", method: .get, headers: operatorBrowser.headers).status == .forbidden)
                #expect(try await live.execute(uri: "/console/events?topic=everything", method: .get, headers: admin.headers).status == .badRequest)
            }
        }
    }

    @Test func operatorAndAgencyPagesCountWhatTheDatabaseHolds() async throws {
        try await withAPI { market, client in
            let store = market.store
            let order = try await store.order(product: market.product, quantity: 1_000, purpose: .industryDevelopment, buyer: market.demander.id,
                                              scenario: "logistics", by: .party(market.demander.id))
            try await store.changeOrder(order.id, to: .accepted, reason: nil, by: .party(market.operatorParty.id))
            let since = Date() - 29 * 86_400
            let products = try await store.operatorProducts(market.operatorParty.id, since: since)
            let revenue = try await market.pool.query("""
                SELECT coalesce(sum(amount_fen), 0)::int8 FROM orders WHERE product_id = \(market.product) AND state IN ('accepted', 'delivered', 'completed')
                """).scalar(Int64.self) ?? -1
            let proposals = try await market.pool.query("SELECT count(*) FROM matches WHERE product_id = \(market.product)").scalar(Int64.self) ?? -1
            let mine = try #require(products.first { $0.id == market.product })
            #expect(mine.orders == 1 && mine.revenueFen == revenue && revenue == order.amountFen && mine.proposals == Int(proposals))
            let days = try await store.operatorDays(market.operatorParty.id, since: since)
            #expect(days.count == 30 && days.last?.orders == 1 && days.last?.revenueFen == revenue)
            let grants = try await store.agencyGrants(market.agency.id)
            let grant = try #require(grants.first { $0.id == market.grant })
            #expect(grant.orders == 1 && grant.revenueFen == revenue && grant.products == 1 && grant.listedProducts == 1)
            // The pages show the same figures.
            let yuan = "¥\(revenue / 100).\(String(format: "%02d", revenue % 100))"
            let operatorPage = Self.text(try await client.execute(uri: "/console", method: .get, headers: try await Self.signIn(client, key: market.operatorKey).headers))
            #expect(operatorPage.contains(yuan) && operatorPage.contains("id=\"products\""))
            let agencyPage = Self.text(try await client.execute(uri: "/console", method: .get, headers: try await Self.signIn(client, key: market.agencyKey).headers))
            #expect(agencyPage.contains(yuan) && agencyPage.contains(String(market.grant.uuidString.lowercased().prefix(8))))
            // A revoked grant shows with its reason.
            _ = try await store.changeAuthorization(market.grant, to: .revoked, reason: "the data left the register", by: .administrator("test"))
            let revoked = Self.text(try await client.execute(uri: "/console", method: .get, headers: try await Self.signIn(client, key: market.agencyKey).headers))
            #expect(revoked.contains("the data left the register"))
        }
    }

    @Test func aDemandsMilestonesAreKeptByTheDatabaseOnEveryPath() async throws {
        try await withAPI { market, _ in
            let store = market.store
            func milestones(_ id: UUID) async throws -> (Date?, Date?) {
                let row = try #require(try await market.pool.query("SELECT opened_at, first_proposed_at FROM demands WHERE id = \(id)").first)
                return try row.decode(Date?.self, Date?.self)
            }
            // Posted as a draft: no milestone; opened later: opened then.
            let draft = try await store.postDemand(try SeeingTests.request("路线 routes"), demander: market.demander.id, open: false, by: .party(market.demander.id))
            #expect(try await milestones(draft) == (nil, nil))
            try await store.changeDemand(draft, to: .open, by: .party(market.demander.id))
            let (opened, none) = try await milestones(draft)
            #expect(opened != nil && none == nil)
            // Its first proposal; declined (back to open), proposed again: the first proposal's time stays.
            let first = try await store.matchDemand(draft)
            let proposedAt = try #require(try await milestones(draft).1)
            #expect(!first.proposed.isEmpty)
            let stays = try await market.pool.query("SELECT min(entered_at) FROM demand_state_stays WHERE demand_id = \(draft) AND state = 'matched'").scalar(Date.self)
            #expect(stays == proposedAt, "the same time the state stays record")
            for match in first.proposed { try await store.decline(match: match, buyer: market.demander.id, reason: "not yet", by: .party(market.demander.id)) }
            #expect(try await store.demandState(draft) == .open)
            #expect(try await milestones(draft) == (opened, proposedAt))
            // Written around: the database keeps them.
            _ = try await market.pool.query("UPDATE demands SET opened_at = now() + interval '1 day', first_proposed_at = NULL WHERE id = \(draft)")
            #expect(try await milestones(draft) == (opened, proposedAt))
            // Posted open: opened at once.
            let posted = try await store.postDemand(try SeeingTests.request("拥堵 congestion"), demander: market.demander.id, open: true, by: .party(market.demander.id))
            #expect(try await milestones(posted).0 != nil)
        }
    }

    @Test func whatPartiesWroteIsShownAsTextNeverAsMarkup() async throws {
        try await withAPI { market, client in
            let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
            _ = try await market.store.postDemand(try SeeingTests.request(hostile, sector: "finance", scenario: "credit_risk"), demander: market.demander.id,
                                                  open: true, by: .party(market.demander.id))
            let admin = try await Self.signIn(client, key: try await Self.admin(market))
            let demander = try await Self.signIn(client, key: market.demanderKey)
            for (uri, browser) in [("/console/gaps", admin), ("/console", demander), ("/console/audit?actor=%3Cscript%3E", admin)] {
                let page = Self.text(try await client.execute(uri: uri, method: .get, headers: browser.headers))
                #expect(!page.contains("<script>alert") && !page.contains("<img src=x"), "\(uri)")
            }
            #expect(Self.text(try await client.execute(uri: "/console/gaps", method: .get, headers: admin.headers)).contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        }
    }

    @Test func productPageReadsBecomeTheOperatorsViews() async throws {
        try await withAPI { market, client in
            let views = ProductViews(store: market.store, logger: Logger(label: "test"))
            let product = market.product.uuidString.lowercased()
            var configuration = APIConfiguration(rateLimit: nil)
            configuration.productViews = views
            let router = try MarketAPI.router(store: market.store, configuration: configuration)
            let app = Application(router: router)
            try await app.test(.router) { counting in
                for _ in 0..<3 {
                    let read = try await counting.execute(uri: "/v1/products/\(product)", method: .get)
                    #expect(read.status == .ok)
                }
                let missing = try await counting.execute(uri: "/v1/products/\(UUID().uuidString.lowercased())", method: .get)
                #expect(missing.status == .notFound)
            }
            await views.flush()
            #expect(try await market.pool.query("SELECT sum(views)::int8 FROM product_views WHERE product_id = \(market.product)").scalar(Int64.self) == 3)
            let operatorBrowser = try await Self.signIn(client, key: market.operatorKey)
            let page = Self.text(try await client.execute(uri: "/console", method: .get, headers: operatorBrowser.headers))
            #expect(page.contains("<td class=\"num\">3</td>"), "the product's row shows 3 views")
        }
    }

    @Test func pdxctlCreatesListsAndRevokesAdministratorsKeys() async throws {
        try await withAPI { market, client in
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            let created = try await runBuilt("pdxctl", ["keys", "create", "--admin", "--name", "dana", "--json", "--database-url", url])
            #expect(created.status == 0, "\(created.error)")
            let row = try #require(try JSONSerialization.jsonObject(with: Data(created.output.utf8)) as? [String: Any])
            let token = try #require(row["key"] as? String), id = try #require(row["id"] as? String)
            #expect(token.hasPrefix("pdxadm_") && row["administrator"] as? String == "dana")
            let listed = try await runBuilt("pdxctl", ["keys", "list", "--admin", "--database-url", url])
            #expect(listed.status == 0 && listed.output.contains("dana") && !listed.output.contains(token))
            _ = try await Self.signIn(client, key: token)
            let refused = try await runBuilt("pdxctl", ["keys", "create", "--admin", "--database-url", url])
            #expect(refused.status != 0 && refused.error.contains("--name"))
            let revoked = try await runBuilt("pdxctl", ["keys", "revoke", id, "--reason", "left the team", "--database-url", url])
            #expect(revoked.status == 0, "\(revoked.error)")
            #expect(try await market.pool.query("SELECT count(*) FROM console_sessions WHERE ended_at IS NULL").scalar(Int64.self) == 0)
            #expect(try await market.pool.query("SELECT count(*) FROM audit_events WHERE action IN ('admin_key.create', 'admin_key.revoke')").scalar(Int64.self) == 2)
        }
    }
}

/// `YYYY-MM-DD` in UTC.
func utcDay(_ date: Date) -> String {
    date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day().dateSeparator(.dash))
}
