import Foundation
import LocalPostgres
import Market
import MarketStore
import PDXTestSupport
import Postgres
import Testing

/// A small market with known matches: two listed products in transport, Shanghai; three demands there,
/// each proposed both products; one demand in Beijing and one in finance that nothing serves. Of the six
/// proposals one is accepted, one declined, three withdrawn (the second product is suspended), one pending.
/// The three matched demands got their first match 10 s, 20 s and 60 s after opening.
private struct MatchedMarket {
    let first: UUID, second: UUID
    let demands: [UUID]
    let beijing: UUID, finance: UUID
    let accepted: UUID, declined: UUID
}

private func matchedMarket(_ market: Market) async throws -> MatchedMarket {
    let seller = Actor.party(market.operatorA.id), buyer = Actor.party(market.demander.id)
    func listed(_ title: String) async throws -> UUID {
        let product = try await market.store.createProduct(productVersion([market.general], title: title), operator: market.operatorA.id,
                                                           authorization: market.grantA.id, by: seller)
        try await market.store.list(product.id, by: seller)
        return product.id
    }
    let first = try await listed("物流路径优化路况 route optimisation traffic")
    let second = try await listed("路况指数 traffic index")
    var demands: [UUID] = []
    for index in 1...3 {
        var request = demandRequest()
        request.title = "物流路径优化 route optimisation \(index)"
        demands.append(try await market.store.postDemand(request, demander: market.demander.id, open: true, by: buyer))
    }
    var beijingRequest = demandRequest()
    beijingRequest.title = "北京路况 Beijing traffic"
    beijingRequest.regions = [Market.beijing]
    let beijing = try await market.store.postDemand(beijingRequest, demander: market.demander.id, open: true, by: buyer)
    var financeRequest = demandRequest()
    financeRequest.title = "企业信用 credit scoring"
    financeRequest.sector = "finance"
    let finance = try await market.store.postDemand(financeRequest, demander: market.demander.id, open: true, by: buyer)
    for demand in demands + [beijing, finance] { _ = try await market.store.matchDemand(demand) }
    #expect(try await market.pool.query("SELECT count(*) FROM matches").scalar(Int.self) == 6)

    func match(_ demand: UUID, _ product: UUID) async throws -> UUID {
        try #require(try await market.pool.query("SELECT id FROM matches WHERE demand_id = \(demand) AND product_id = \(product)").scalar(UUID.self))
    }
    let accepted = try await match(demands[0], first), declined = try await match(demands[1], first)
    _ = try await market.store.accept(match: accepted, buyer: market.demander.id, by: buyer)
    try await market.store.decline(match: declined, buyer: market.demander.id, reason: "too coarse", by: buyer)
    try await market.store.changeProduct(second, to: .suspended, reason: "data source under review", by: seller)
    // Known times from opening to first match.
    for (demand, seconds) in zip(demands, [10.0, 20.0, 60.0]) {
        try await market.pool.execute("""
            UPDATE demand_state_stays SET entered_at = (SELECT min(created_at) FROM matches WHERE demand_id = \(demand)) - make_interval(secs => \(seconds))
            WHERE demand_id = \(demand) AND state = 'open'
            """)
    }
    return MatchedMarket(first: first, second: second, demands: demands, beijing: beijing, finance: finance, accepted: accepted, declined: declined)
}

/// A `pdx_matches` notification's payload.
private struct MatchEvent: Decodable, Equatable {
    var id: UUID
    var state: String
}

/// The next `count` match notifications of `events` (notices of other kinds skipped), decoded.
private func matchEvents(_ count: Int, from events: EventBox) async throws -> [MatchEvent] {
    var payloads: [String] = []
    while payloads.count < count {
        guard let event = try await withTimeout(.seconds(60), "match event", { await events.next() }) else {
            Issue.record("the subscription ended after \(payloads)")
            return []
        }
        if case .notification(let notification) = event { payloads.append(notification.payload) }
    }
    return try payloads.map { try JSONDecoder().decode(MatchEvent.self, from: Data($0.utf8)) }
}

/// Hands a listener subscription's iterator to `withTimeout`, one event at a time.
private final class EventBox: @unchecked Sendable {
    private var iterator: AsyncStream<PostgresListenerEvent>.Iterator
    init(_ iterator: AsyncStream<PostgresListenerEvent>.Iterator) { self.iterator = iterator }
    func next() async -> PostgresListenerEvent? { await iterator.next() }
}

@Suite struct MatchReportTests {
    @Test func statsCountDemandsMatchesAndDecisionsPerSectorAndOverall() async throws {
        try await withMarket { market in
            let known = try await matchedMarket(market)
            let report = try await market.store.matchStats()
            let all = report.overall
            #expect(all.sector == nil)
            #expect(all.demandsOpened == 5 && all.demandsMatched == 3)
            #expect(all.matchRate == 0.6)
            #expect(all.proposals == 6 && all.pending == 1 && all.accepted == 1 && all.declined == 1 && all.withdrawn == 3)
            #expect(all.acceptanceRate == 0.5)
            // percentile_cont over 10, 20 and 60 s: the median is 20 s, the 95th percentile 20 + 0.9 × 40 = 56 s.
            #expect(abs((all.firstMatchSecondsP50 ?? 0) - 20) < 0.01)
            #expect(abs((all.firstMatchSecondsP95 ?? 0) - 56) < 0.01)
            #expect(report.sectors.map(\.sector) == ["finance", "transport"])
            let finance = report.sectors[0], transport = report.sectors[1]
            #expect(finance.demandsOpened == 1 && finance.demandsMatched == 0 && finance.matchRate == 0 && finance.proposals == 0)
            #expect(finance.firstMatchSecondsP50 == nil && finance.acceptanceRate == nil)
            #expect(transport.demandsOpened == 4 && transport.demandsMatched == 3 && transport.matchRate == 0.75 && transport.proposals == 6)

            let onlyTransport = try await market.store.matchStats(sector: "transport")
            #expect(onlyTransport.overall.demandsOpened == 4 && onlyTransport.sectors.map(\.sector) == ["transport"])
            // The Beijing demand opened ten days ago falls outside "since yesterday"; so do the matches made before.
            try await market.pool.execute("UPDATE demand_state_stays SET entered_at = now() - interval '10 days' WHERE demand_id = \(known.beijing)")
            try await market.pool.execute("UPDATE matches SET created_at = now() - interval '3 days' WHERE id = \(known.declined)")
            let recent = try await market.store.matchStats(since: Date() - 86_400)
            #expect(recent.overall.demandsOpened == 4 && recent.overall.demandsMatched == 3)
            #expect(recent.overall.proposals == 5 && recent.overall.declined == 0 && recent.overall.acceptanceRate == 1)
            let future = try await market.store.matchStats(since: Date() + 3_600)
            #expect(future.overall.demandsOpened == 0 && future.overall.proposals == 0 && future.overall.matchRate == nil)
            #expect(future.sectors.isEmpty)
            await #expect(throws: MarketInputError.self) { try await market.store.matchStats(sector: "space") }
        }
    }

    @Test func listFiltersAndOrdersNewestFirstWithADeterministicTiebreak() async throws {
        try await withMarket { market in
            let known = try await matchedMarket(market)
            let all = try await market.store.matches()
            #expect(all.count == 6)
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.createdAt > $1.createdAt || ($0.createdAt == $1.createdAt && $0.id.uuidString > $1.id.uuidString) })
            #expect(all.allSatisfy { $0.topReason != nil && $0.demanderName == market.demander.name && $0.operatorName == market.operatorA.name })
            func count(_ filter: MatchFilter) async throws -> Int { try await market.store.matches(filter).count }
            #expect(try await count(MatchFilter(demandID: known.demands[0])) == 2)
            #expect(try await count(MatchFilter(productID: known.first)) == 3)
            #expect(try await count(MatchFilter(demanderID: market.demander.id)) == 6)
            #expect(try await count(MatchFilter(demanderID: market.operatorB.id)) == 0)
            #expect(try await count(MatchFilter(operatorID: market.operatorA.id)) == 6)
            #expect(try await count(MatchFilter(operatorID: market.operatorB.id)) == 0)
            #expect(try await count(MatchFilter(sector: "transport")) == 6)
            #expect(try await count(MatchFilter(sector: "finance")) == 0)
            #expect(try await market.store.matches(MatchFilter(state: .accepted)).map(\.id) == [known.accepted])
            #expect(try await count(MatchFilter(state: .withdrawn)) == 3)
            #expect(try await count(MatchFilter(productID: known.first, state: .proposed)) == 1)
            #expect(try await count(MatchFilter(since: Date() + 3_600)) == 0)
            #expect(try await count(MatchFilter(limit: 2)) == 2)
            for limit in [0, 1_001] {
                await #expect(throws: MarketInputError(field: "limit", rule: "must be from 1 to 1000, got \(limit)")) {
                    try await market.store.matches(MatchFilter(limit: limit))
                }
            }
            await #expect(throws: MarketInputError.self) { try await market.store.matches(MatchFilter(sector: "space")) }
            // Equal times: ordered by id, descending, every time.
            try await market.pool.execute("UPDATE matches SET created_at = '2026-01-01T00:00:00Z'")
            let tied = try await market.store.matches()
            #expect(tied.map(\.id) == tied.map(\.id).sorted { $0.uuidString.lowercased() > $1.uuidString.lowercased() })
            #expect(try await market.store.matches(MatchFilter(limit: 3)).map(\.id) == Array(tied.prefix(3).map(\.id)))
        }
    }

    @Test func detailHasTheReasonsTheQuoteAndTheStateReason() async throws {
        try await withMarket { market in
            let known = try await matchedMarket(market)
            let detail = try await market.store.matchDetail(known.declined)
            #expect(detail.summary.id == known.declined && detail.summary.state == .declined && detail.stateReason == "too coarse")
            #expect(detail.summary.demandTitle == "物流路径优化 route optimisation 2")
            #expect(detail.summary.productTitle == "物流路径优化路况 route optimisation traffic")
            #expect(detail.reasons.map(\.component) == ["fields", "scenario", "text", "tags", "region", "price"])
            #expect(detail.reasons.contains { $0.detail == "offers 2 of the 2 fields wanted (road_id, speed)" })
            #expect(abs(detail.reasons.reduce(0) { $0 + $1.value * $1.weight } - detail.summary.score) < 1e-9)
            let top = try #require(detail.summary.topReason)
            #expect(detail.reasons.allSatisfy { $0.value * $0.weight <= top.value * top.weight })
            #expect(detail.quote.quantity == 1_000 && detail.quote.amountFen == 50_000 && detail.summary.quoteFen == 50_000)
            #expect(detail.quote.lines.first?.step == "list_price")
            #expect(detail.purpose == .industryDevelopment && detail.budgetFen == 1_000_000)
            let missing = UUID()
            await #expect(throws: MarketNotFound("match", missing)) { try await market.store.matchDetail(missing) }
        }
    }

    @Test func gapsGroupUnservedDemandAndDiagnoseTheNearestHardRule() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id), buyer = Actor.party(market.demander.id)
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: seller)
            try await market.store.list(product.id, by: seller)
            func post(_ change: (inout DemandRequest) -> Void, by demander: UUID? = nil) async throws -> UUID {
                var request = demandRequest()
                change(&request)
                return try await market.store.postDemand(request, demander: demander ?? market.demander.id, open: true, by: buyer)
            }
            // Beijing: no product there. Two demanders, the same fields in another order.
            _ = try await post { $0.regions = [Market.beijing]; $0.fieldsWanted = ["speed", "road_id"] }
            _ = try await post({ $0.regions = [Market.beijing] }, by: market.operatorB.id)
            // Shanghai, same group: one over budget (50 fen × 1000 > 10 fen), one free for public welfare.
            _ = try await post { $0.budgetFen = 10 }
            _ = try await post { $0.purpose = .publicWelfare; $0.budgetFen = 0 }
            // Shanghai, files only: the product delivers by API.
            _ = try await post { $0.deliveryModes = [.file]; $0.scenario = "traffic_planning" }
            // Finance: nothing listed; cancelled without a match, still a gap.
            let finance = try await post { $0.sector = "finance"; $0.scenario = "credit_scoring"; $0.fieldsWanted = ["credit_code", "penalties"] }
            try await market.store.changeDemand(finance, to: .cancelled, by: buyer, reason: "gave up")
            // Shanghai, wanting weather as well: servable, but nobody offers weather there.
            _ = try await post { $0.scenario = "fleet_management"; $0.fieldsWanted = ["road_id", "weather"] }
            // Matched demands are not gaps, even once cancelled.
            let matched = try await post { $0.scenario = "fleet_management" }
            #expect(try await market.store.matchDemand(matched).proposed.count == 1)
            let cancelled = try await post { $0.scenario = "fleet_management"; $0.title = "later cancelled" }
            _ = try await market.store.matchDemand(cancelled)
            try await market.store.changeDemand(cancelled, to: .cancelled, by: buyer)

            let gaps = try await market.store.demandGaps()
            #expect(gaps.count == 5)
            #expect(gaps.reduce(0) { $0 + $1.demands } == 7)
            let beijing = try #require(gaps.first)
            #expect(beijing.regions == ["110000"] && beijing.fieldsWanted == ["road_id", "speed"], "most demands first")
            #expect(beijing.demands == 2 && beijing.demanders == 2 && beijing.open == 2 && beijing.totalBudgetFen == 2_000_000)
            #expect(beijing.diagnosis == .noneInRegion && beijing.diagnoses == [.init(diagnosis: .noneInRegion, demands: 2)])
            #expect(beijing.missingFields == ["road_id", "speed"] && beijing.listedInSector == 1 && beijing.listedInRegion == 0)
            #expect(beijing.sectorName == "交通运输")

            func group(_ scenario: String, _ sector: String = "transport", region: String = "310000") throws -> DemandGap {
                try #require(gaps.first { $0.scenario == scenario && $0.sector == sector && $0.regions == [region] })
            }
            let budget = try group("logistics")
            #expect(budget.demands == 2 && budget.demanders == 1 && budget.totalBudgetFen == 10)
            #expect(budget.diagnosis == .noneWithinBudget, "a tie goes to the earlier rule")
            #expect(budget.diagnoses == [.init(diagnosis: .noneWithinBudget, demands: 1), .init(diagnosis: .passesHardRules, demands: 1)])
            #expect(budget.cheapestQuoteFen == 50_000 && budget.missingFields.isEmpty && budget.listedInRegion == 1)
            #expect(try group("traffic_planning").diagnosis == .noneWithDeliveryMode)
            let credit = try group("credit_scoring", "finance")
            #expect(credit.diagnosis == .noProductInSector && credit.cancelled == 1 && credit.open == 0 && credit.listedInSector == 0)
            #expect(credit.missingFields == ["credit_code", "penalties"])
            let weather = try group("fleet_management")
            #expect(weather.demands == 1 && weather.diagnosis == .passesHardRules && weather.missingFields == ["weather"])
            #expect(weather.examples == ["物流路径优化 route optimisation"])

            #expect(try await market.store.demandGaps(sector: "finance").map(\.scenario) == ["credit_scoring"])
            #expect(try await market.store.demandGaps(since: Date() + 3_600).isEmpty)
            #expect(try await market.store.demandGaps(limit: 2).count == 2)
            await #expect(throws: MarketInputError.self) { try await market.store.demandGaps(sector: "space") }
        }
    }

    @Test func commandsEndToEndWithBadInputNamingTheOptionAndTheRule() async throws {
        try await withMarket { market in
            let known = try await matchedMarket(market)
            let url = TestDatabase.connectionString(market.pool.configuration.connection)
            func pdxctl(_ arguments: String...) async throws -> (status: Int32, output: String, error: String) {
                try await runBuilt("pdxctl", arguments + ["--database-url", url])
            }
            let decoder = snakeCaseDecoder()

            let stats = try await pdxctl("matches", "stats")
            #expect(stats.status == 0, "\(stats.error)")
            #expect(stats.output.contains("transport") && stats.output.contains("75.0%") && stats.output.contains("60.0%"), "\(stats.output)")
            #expect(stats.output.contains("20.0s") && stats.output.contains("56.0s"), "\(stats.output)")
            let statsJSON = try decoder.decode(MatchStatsReport.self, from: Data(try await pdxctl("matches", "stats", "--since", "7d", "--json").output.utf8))
            #expect(statsJSON.overall.demandsOpened == 5 && statsJSON.overall.acceptanceRate == 0.5)

            let list = try await pdxctl("matches", "list", "--state", "declined")
            #expect(list.status == 0, "\(list.error)")
            #expect(list.output.contains(known.declined.uuidString.lowercased()) && list.output.contains("declined"), "\(list.output)")
            let listed = try decoder.decode([MatchSummary].self, from: Data(try await pdxctl("matches", "list", "--product", known.first.uuidString,
                                                                                         "--limit", "1000", "--json").output.utf8))
            #expect(listed.count == 3 && listed.allSatisfy { $0.productID == known.first })
            #expect(try await pdxctl("matches", "list", "--sector", "finance").output.contains("no matches"))

            let show = try await pdxctl("matches", "show", known.declined.uuidString)
            #expect(show.status == 0, "\(show.error)")
            for text in ["declined", "too coarse", "物流路径优化 route optimisation 2", "offers 2 of the 2 fields wanted (road_id, speed)",
                         "scenario", "list_price", "total: 50000 fen (500.00 yuan)"] {
                #expect(show.output.contains(text), "\(text) in \(show.output)")
            }
            let detail = try decoder.decode(MatchDetail.self, from: Data(try await pdxctl("matches", "show", known.accepted.uuidString, "--json").output.utf8))
            #expect(detail.summary.state == .accepted && detail.reasons.count == 6)
            let missing = try await pdxctl("matches", "show", UUID().uuidString)
            #expect(missing.status == 1 && missing.error.contains("no match") && missing.error.contains("pdxctl matches list"), "\(missing.error)")

            let gaps = try await pdxctl("demand", "gaps")
            #expect(gaps.status == 0, "\(gaps.error)")
            for text in ["2 demands found no product", "none in region", "no listed product in sector", "open next: road_id, speed",
                         "transport 交通运输 · scenario logistics · regions 110000", "北京路况 Beijing traffic"] {
                #expect(gaps.output.contains(text), "\(text) in \(gaps.output)")
            }
            let gapsJSON = try decoder.decode([DemandGap].self, from: Data(try await pdxctl("demand", "gaps", "--sector", "finance", "--json").output.utf8))
            #expect(gapsJSON.map(\.diagnosis) == [.noProductInSector])
            #expect(try await pdxctl("demand", "gaps", "--since", "2999-01-01").output.contains("found a product"))

            let bad: [([String], String)] = [
                (["matches", "list", "--limit", "0"], "--limit must be from 1 to 1000, got 0"),
                (["matches", "list", "--limit", "1001"], "--limit must be from 1 to 1000, got 1001"),
                (["matches", "list", "--state", "maybe"], "--state must be one of proposed, accepted, declined, withdrawn, got 'maybe'"),
                (["matches", "list", "--demand", "d-1"], "--demand must be a UUID, got 'd-1'"),
                (["matches", "list", "--operator", "x"], "--operator must be a UUID, got 'x'"),
                (["matches", "stats", "--since", "yesterday"], "--since must be a date (YYYY-MM-DD), an RFC 3339 time or a duration"),
                (["matches", "stats", "--sector", "Transport!"], "--sector must be a sector code such as transport"),
                (["matches", "stats", "--sector", "space"], "--sector must be one of"),
                (["matches", "show", "42"], "the match id must be a UUID, got '42'"),
                (["matches", "watch", "--count", "0"], "--count must be at least 1, got 0"),
                (["demand", "gaps", "--limit", "5000"], "--limit must be from 1 to 1000, got 5000"),
                (["demand", "gaps", "--since", "2026-13-45"], "--since must be a date"),
            ]
            for (arguments, message) in bad {
                let result = try await runBuilt("pdxctl", arguments + ["--database-url", url])
                #expect(result.status == 64, "\(arguments): \(result.status) \(result.error)")
                #expect(result.error.contains(message), "\(arguments): \(result.error)")
            }
            for command in [["matches"], ["matches", "stats"], ["matches", "list"], ["matches", "show"], ["matches", "watch"], ["demand", "gaps"]] {
                let help = try await runBuilt("pdxctl", command + ["--help"])
                #expect(help.status == 0 && help.output.contains("pdxctl \(command.joined(separator: " "))") && help.output.contains("--json"),
                        "\(command): \(help.output)")
            }
        }
    }

    @Test func matchesNotifyTheirIDAndStateWhenProposedAndWhenTheirStateChanges() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id), buyer = Actor.party(market.demander.id)
            let product = try await market.store.createProduct(productVersion([market.general]), operator: market.operatorA.id,
                                                               authorization: market.grantA.id, by: seller)
            try await market.store.list(product.id, by: seller)
            let first = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: buyer)
            let second = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: buyer)
            let listener = try PostgresListener(configuration: market.pool.configuration.connection)
            defer { listener.shutdown() }
            let events = EventBox(try listener.subscribe(to: "pdx_matches").makeAsyncIterator())
            #expect(try await withTimeout(.seconds(60), "LISTEN") { await events.next() } == .listening)
            let declined = try #require(try await market.store.matchDemand(first).proposed.first)
            let accepted = try #require(try await market.store.matchDemand(second).proposed.first)
            try await market.store.decline(match: declined, buyer: market.demander.id, reason: nil, by: buyer)
            _ = try await market.store.accept(match: accepted, buyer: market.demander.id, by: buyer)
            #expect(try await matchEvents(4, from: events) == [
                MatchEvent(id: declined, state: "proposed"), MatchEvent(id: accepted, state: "proposed"),
                MatchEvent(id: declined, state: "declined"), MatchEvent(id: accepted, state: "accepted"),
            ])
        }
    }

    /// The matches one statement proposes each send their notification (one statement trigger sends them all,
    /// sql/0025_proposal_costs.sql), in the order they were inserted, and only once it commits.
    @Test func theMatchesOfOneStatementEachNotifyInOrder() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id), buyer = Actor.party(market.demander.id)
            for title in ["路况 one", "路况 two", "路况 three"] {
                let product = try await market.store.createProduct(productVersion([market.general], title: title), operator: market.operatorA.id,
                                                                   authorization: market.grantA.id, by: seller)
                try await market.store.list(product.id, by: seller)
            }
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: buyer)
            let listener = try PostgresListener(configuration: market.pool.configuration.connection)
            defer { listener.shutdown() }
            let events = EventBox(try listener.subscribe(to: "pdx_matches").makeAsyncIterator())
            #expect(try await withTimeout(.seconds(60), "LISTEN") { await events.next() } == .listening)
            // A statement rolled back sends nothing.
            try await market.pool.withConnection { connection in
                try await connection.execute("BEGIN")
                try await connection.execute("""
                    INSERT INTO matches (demand_id, product_id, product_version, score, quote_fen)
                    SELECT \(demand), product_id, version, 0.5, 0 FROM catalogue
                    """)
                try await connection.execute("ROLLBACK")
            }
            let proposed = try await market.store.matchDemand(demand).proposed
            #expect(proposed.count == 3)
            #expect(try await matchEvents(3, from: events) == proposed.map { MatchEvent(id: $0, state: "proposed") })
        }
    }

    @Test func watchPrintsAMatchProposedWhileItRuns() async throws {
        try await withMarket { market in
            let seller = Actor.party(market.operatorA.id), buyer = Actor.party(market.demander.id)
            let product = try await market.store.createProduct(productVersion([market.general], title: "路况指数 traffic index"),
                                                               operator: market.operatorA.id, authorization: market.grantA.id, by: seller)
            try await market.store.list(product.id, by: seller)
            let demand = try await market.store.postDemand(demandRequest(), demander: market.demander.id, open: true, by: buyer)
            let url = TestDatabase.connectionString(market.pool.configuration.connection)

            let folder = FileManager.default.temporaryDirectory
            let outputURL = folder.appendingPathComponent("pdxctl-watch-\(UUID().uuidString).out")
            let errorURL = folder.appendingPathComponent("pdxctl-watch-\(UUID().uuidString).err")
            for file in [outputURL, errorURL] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
            defer { for file in [outputURL, errorURL] { try? FileManager.default.removeItem(at: file) } }
            func text(_ file: URL) -> String { (try? String(contentsOf: file, encoding: .utf8)) ?? "" }

            let process = ChildProcess()
            process.executableURL = try pdxExecutable().deletingLastPathComponent().appendingPathComponent("pdxctl")
            process.arguments = ["matches", "watch", "--count", "1", "--database-url", url]
            process.standardOutput = try FileHandle(forWritingTo: outputURL)
            process.standardError = try FileHandle(forWritingTo: errorURL)
            process.standardInput = FileHandle.nullDevice
            try process.run()
            defer { if process.isRunning { process.terminate() } }

            // Generous: the machine is busy. Nothing here asserts how fast it is.
            let deadline = ContinuousClock.now + .seconds(180)
            while !text(errorURL).contains("watching new matches") {
                guard process.isRunning, ContinuousClock.now < deadline else {
                    Issue.record("watch never said it was listening; stderr: \(text(errorURL))")
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await market.store.matchDemand(demand).proposed.count == 1)
            while process.isRunning {
                guard ContinuousClock.now < deadline else {
                    Issue.record("watch --count 1 did not exit after a match; stdout: \(text(outputURL)) stderr: \(text(errorURL))")
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(process.terminationStatus == 0, "\(text(errorURL))")
            let lines = text(outputURL).split(separator: "\n")
            #expect(lines.count == 1, "\(lines)")
            let line = String(lines.first ?? "")
            #expect(line.contains("new") && line.contains("物流路径优化 route optimisation ← 路况指数 traffic index"), "\(line)")
            #expect(line.contains("fields: offers 2 of the 2 fields wanted"), "\(line)")
        }
    }
}
