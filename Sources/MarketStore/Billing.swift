public import Foundation
public import Market
import JobQueue
import MarketJobs
public import Postgres

/// A calendar month of billing, in UTC: `2026-11`.
public struct BillingPeriod: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public let year: Int
    public let month: Int

    public init(year: Int, month: Int) throws(MarketInputError) {
        guard (2000...2200).contains(year), (1...12).contains(month) else {
            throw MarketInputError(field: "period", rule: "must be a month from 2000-01 to 2200-12 (YYYY-MM)")
        }
        self.year = year
        self.month = month
    }

    /// Parses `YYYY-MM`.
    public init(_ text: String) throws(MarketInputError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, let year = Int(parts[0]), let month = Int(parts[1]) else {
            throw MarketInputError(field: "period", rule: "must be a month written YYYY-MM, such as 2026-11")
        }
        try self.init(year: year, month: month)
    }

    /// The month holding `date` (UTC).
    public init(containing date: Date) {
        let parts = Calendar.utc.dateComponents([.year, .month], from: date)
        year = parts.year ?? 2000
        month = parts.month ?? 1
    }

    public var first: CalendarDate { CalendarDate(year: year, month: month, day: 1)! }
    public var start: Date { Calendar.utc.date(from: DateComponents(year: year, month: month, day: 1))! }
    /// The months around it (outside the range input may name: 2200-12's next is 2201-01, as its end needs).
    public var next: BillingPeriod { month == 12 ? BillingPeriod(adjacent: year + 1, 1) : BillingPeriod(adjacent: year, month + 1) }
    public var previous: BillingPeriod { month == 1 ? BillingPeriod(adjacent: year - 1, 12) : BillingPeriod(adjacent: year, month - 1) }

    private init(adjacent year: Int, _ month: Int) {
        self.year = year
        self.month = month
    }
    public var end: Date { next.start }
    public var description: String { String(format: "%04d-%02d", year, month) }
    public static func < (a: BillingPeriod, b: BillingPeriod) -> Bool { (a.year, a.month) < (b.year, b.month) }

    init(_ date: CalendarDate) {
        let (year, month, _) = date.components
        self.year = year
        self.month = month
    }
}

extension Calendar {
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
}

/// What a buyer owes for one entitlement in one month (or a correction of it), as issued: never changed.
public struct Statement: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable { case regular, adjusting }
    public var id: UUID
    public var number: Int64
    public var period: BillingPeriod
    public var entitlementID: UUID
    public var buyerID: UUID
    public var sellerID: UUID
    public var agencyID: UUID?
    public var kind: Kind
    public var adjusts: UUID?
    public var units: Int64
    public var amountFen: Int64
    public var agencyShareFen: Int64
    public var lines: [Quote.Line]
    public var rules: [Quote.RuleReference]
    /// The instant whose pricing rules priced it.
    public var pricedAt: Date
    public var reason: String?
    public var issuedBy: String
    public var issuedAt: Date
}

/// What closing a month did.
public struct PeriodClose: Sendable, Equatable {
    public var period: BillingPeriod
    /// Statements issued by this close (a close resumed after a crash counts only its own).
    public var issued: Int
    /// Every regular statement of the month, and their total.
    public var statements: Int
    public var amountFen: Decimal
    /// Closed before this call: nothing was done.
    public var alreadyClosed: Bool
}

/// One party's account in a month's settlement.
public struct SettlementLine: Sendable, Equatable, Codable {
    public var partyID: UUID
    public var name: String
    public var account: String
    /// Owed (buyers: negative) or earned (sellers, agencies: positive), in fen.
    public var netFen: Decimal
    public var entries: Int
}

public struct SettlementReport: Sendable, Equatable, Codable {
    public var period: String
    public var lines: [SettlementLine]
    public var debitsFen: Decimal
    public var creditsFen: Decimal
    /// Debits and credits cancel out (double entry).
    public var balanced: Bool
}

extension MarketStore {
    /// Closes `period` and every earlier month not closed yet, in order: see `closeMonth`.
    @discardableResult
    public func closePeriods(through period: BillingPeriod, by author: String, chunk: Int = 1_000) async throws -> [PeriodClose] {
        try validateText(author, field: "actor", maxLength: 200)
        guard (1...10_000).contains(chunk) else { throw MarketInputError(field: "chunk", rule: "must be from 1 to 10000") }
        let now = try await self.now()
        guard period.end <= now else {
            throw MarketInputError(field: "period", rule: "must have ended: \(period) ends at \(iso8601(period.end))")
        }
        let (lastClosed, earliest) = try await query("""
            SELECT (SELECT max(period) FROM billing_periods WHERE closed_at IS NOT NULL),
                   least((SELECT min(day) FROM usage_daily), (SELECT min((starts_at AT TIME ZONE 'UTC')::date) FROM entitlements))
            """).decode(CalendarDate?.self, CalendarDate?.self).first ?? (nil, nil)
        var month = lastClosed.map { BillingPeriod($0).next } ?? earliest.map(BillingPeriod.init) ?? period
        if month > period { month = period }
        var closes: [PeriodClose] = []
        while month <= period {
            closes.append(try await closeMonth(month, by: author, chunk: chunk))
            month = month.next
        }
        return closes
    }

    /// Issues the month's statements: for each entitlement with metered usage in the month (or unmetered and
    /// started in it) and no statement yet, the pure engine's quote of that usage (tiers over the month's
    /// total, caps, discounts, public interest free) under the rules in force when the month began (or the
    /// entitlement started, if later: a rule changed during a month applies from the next), with its ledger
    /// entries. Chunks commit one by one; a statement is issued once per entitlement and month (a unique
    /// index), so a close that dies half-way is run again and finishes the rest, and two closes at once
    /// issue each statement once. The month is marked closed at the end. Usage for it is refused from the
    /// moment the close begins.
    func closeMonth(_ period: BillingPeriod, by author: String, chunk: Int) async throws -> PeriodClose {
        let closed = try await transaction { connection in
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(Self.billingLock))")
            try await connection.execute("""
                INSERT INTO billing_periods (period, started_by) VALUES (\(period.first), \(author)) ON CONFLICT DO NOTHING
                """)
            return try await connection.query("SELECT closed_at IS NOT NULL FROM billing_periods WHERE period = \(period.first)").scalar(Bool.self) ?? false
        }
        if closed {
            let (count, amount) = try await periodTotals(period)
            return PeriodClose(period: period, issued: 0, statements: count, amountFen: amount, alreadyClosed: true)
        }
        let rules = try await read { connection in try await connection.allRuleVersions() }
        var pricing = StatementPricing(rules: rules)
        var cursor: UUID?
        var issued = 0
        while true {
            let (count, last, filled) = try await transaction { [pricing, cursor] connection in
                var pricing = pricing
                let (count, last) = try await connection.issueStatements(period, after: cursor, limit: chunk, pricing: &pricing, author: author)
                return (count, last, pricing)
            }
            issued += count
            guard let last else { break }
            cursor = last
            pricing = filled
        }
        let (count, amount) = try await transaction { connection in
            try await connection.execute("""
                UPDATE billing_periods SET closed_at = now(),
                    statements = (SELECT count(*) FROM statements WHERE period = \(period.first) AND kind = 'regular'),
                    amount_fen = (SELECT coalesce(sum(amount_fen), 0) FROM statements WHERE period = \(period.first))
                WHERE period = \(period.first) AND closed_at IS NULL
                """)
            try await connection.audit(.administrator(author), "billing.close", "billing_period", period.description)
            return try await connection.query("SELECT statements, amount_fen::text FROM billing_periods WHERE period = \(period.first)")
                .decode(Int32?.self, String?.self).first ?? (nil, nil)
        }
        try await alertRevenueOverAllowance(year: period.year)
        return PeriodClose(period: period, issued: issued, statements: Int(count ?? 0), amountFen: Decimal(string: amount ?? "0") ?? 0, alreadyClosed: false)
    }

    /// Tells administrators, once per operator and year, of each operator whose revenue (from statements)
    /// passed its effective allowance: a `revenue.over_allowance` event to the administrators' webhook.
    func alertRevenueOverAllowance(year: Int) async throws {
        let over = try await revenueReport(year: year).filter { $0.overageFen > 0 }
        guard !over.isEmpty else { return }
        try await transaction { connection in
            let alerted = try await connection.query("""
                INSERT INTO revenue_alerts (operator_id, year, revenue_fen, allowance_fen)
                SELECT * FROM unnest(\(over.map(\.operatorID)), \(over.map { _ in Int32(year) }), \(over.map { "\($0.revenueFen)" })::numeric[],
                                     \(over.map { "\($0.effectiveAllowanceFen ?? 0)" })::numeric[])
                ON CONFLICT DO NOTHING RETURNING operator_id
                """).decode(UUID.self)
            guard try await connection.query("SELECT admin_webhook_url IS NOT NULL FROM market_settings").scalar(Bool.self) == true else { return }
            let now = try await connection.now()
            try await connection.enqueue(try alerted.map { id in
                try NewJob(NotifyJob(partyID: id, type: MarketEvent.revenueOverAllowance, subjectID: id, occurredAt: now), maxAttempts: NotifyJob.maxAttempts)
            })
        }
    }

    func periodTotals(_ period: BillingPeriod) async throws -> (Int, Decimal) {
        let (count, amount) = try await query("""
            SELECT count(*) FILTER (WHERE kind = 'regular')::int4, coalesce(sum(amount_fen), 0)::text FROM statements WHERE period = \(period.first)
            """).decode(Int32.self, String.self).first ?? (Int32(0), "0")
        return (Int(count), Decimal(string: amount) ?? 0)
    }

    /// A correction of an issued statement: a new adjusting statement of `amountFen` (negative: a credit to
    /// the buyer) in the same month, with its ledger entries. The statement and its corrections never total
    /// below zero.
    public func adjustStatement(_ id: UUID, amountFen: Int64, reason: String, by author: String) async throws -> Statement {
        try validateText(author, field: "actor", maxLength: 200)
        try validateText(reason, field: "reason", maxLength: 2000)
        guard amountFen != 0, abs(amountFen) <= Money.maximumAmountFen else {
            throw MarketInputError(field: "amount_fen", rule: "must be non-zero and at most \(Money.maximumAmountFen) fen either way")
        }
        return try await transaction { connection in
            guard let original = try await connection.statements(where: "s.id = \(id)").first else { throw MarketNotFound("statement", id) }
            guard original.kind == .regular else {
                throw MarketInputError(field: "statement", rule: "must be a regular statement (adjust the statement an adjustment corrects)")
            }
            // One correction of a statement at a time: its entitlement is locked.
            _ = try await connection.query("SELECT 1 FROM entitlements WHERE id = \(original.entitlementID) FOR NO KEY UPDATE")
            let total = try await connection.query("""
                SELECT coalesce(sum(amount_fen), 0)::int8 FROM statements WHERE id = \(id) OR adjusts = \(id)
                """).scalar(Int64.self) ?? 0
            guard total + amountFen >= 0 else {
                throw MarketInputError(field: "amount_fen", rule: "would take the statement below zero (it totals \(total) fen with its corrections)")
            }
            let share = try await connection.query("""
                SELECT coalesce(a.agency_share_permille, 0) FROM entitlements e JOIN products p ON p.id = e.product_id
                LEFT JOIN authorizations a ON a.id = p.authorization_id WHERE e.id = \(original.entitlementID)
                """).scalar(Int32.self) ?? 0
            let line = Quote.Line(step: "adjustment", detail: "correction of statement \(original.number): \(reason)", amountFen: amountFen)
            let statement = try await connection.insertStatements([
                NewStatement(period: original.period, entitlementID: original.entitlementID, buyerID: original.buyerID, sellerID: original.sellerID,
                             agencyID: original.agencyID, adjusts: id, units: 0, amountFen: amountFen,
                             agencyShareFen: Self.share(of: amountFen, permille: Int(share)), lines: [line], rules: [], pricedAt: nil, reason: reason)
            ], author: author)
            guard let new = statement.first else { throw MarketNotFound("statement", id) }
            try await connection.audit(.administrator(author), "statement.adjust", "statement", new, reason: reason,
                                       after: #"{"adjusts":"\#(id.lowercased)","amount_fen":\#(amountFen)}"#)
            guard let issued = try await connection.statements(where: "s.id = \(new)").first else { throw MarketNotFound("statement", new) }
            return issued
        }
    }

    /// The agency's share of an amount, per mille, rounded half away from zero to a whole fen.
    static func share(of amount: Int64, permille: Int) -> Int64 {
        let magnitude = (abs(amount) * Int64(permille) + 500) / 1000
        return amount < 0 ? -magnitude : magnitude
    }

    /// The statements a party is billed (buyer) or paid (seller), in number order after `cursor`.
    public func statements(of party: UUID, period: BillingPeriod? = nil, after cursor: Int64? = nil, limit: Int = 100) async throws -> [Statement] {
        guard (1...1000).contains(limit) else { throw MarketInputError(field: "limit", rule: "must be from 1 to 1000") }
        return try await read { connection in
            try await connection.statements(where: """
                (s.buyer_id = \(party) OR s.seller_id = \(party)) AND (\(period?.first)::date IS NULL OR s.period = \(period?.first))
                AND s.number > \(cursor ?? 0) ORDER BY s.number LIMIT \(Int32(limit))
                """)
        }
    }

    /// Every party's net in the month's ledger (adjustments of the month included), and whether it balances.
    public func settlementReport(_ period: BillingPeriod) async throws -> SettlementReport {
        let rows = try await query("""
            SELECT l.party_id, p.name, l.account, sum(l.amount_fen)::text, count(*)::int4
            FROM ledger_entries l JOIN parties p ON p.id = l.party_id
            WHERE l.period = \(period.first)
            GROUP BY l.party_id, p.name, l.account ORDER BY l.account, p.name, l.party_id
            """).decode(UUID.self, String.self, String.self, String.self, Int32.self)
        let lines = rows.map { SettlementLine(partyID: $0, name: $1, account: $2, netFen: Decimal(string: $3) ?? 0, entries: Int($4)) }
        let debits = lines.map(\.netFen).filter { $0 < 0 }.reduce(0, +), credits = lines.map(\.netFen).filter { $0 > 0 }.reduce(0, +)
        let total = try await query("SELECT coalesce(sum(amount_fen), 0)::text FROM ledger_entries WHERE period = \(period.first)").scalar(String.self)
        return SettlementReport(period: period.description, lines: lines, debitsFen: -debits, creditsFen: credits,
                                balanced: Decimal(string: total ?? "") == 0 && -debits == credits)
    }

    /// Where administrators hear of an operator passing its allowance (nil: nowhere); the secret signs deliveries.
    public func setAdminWebhook(url: CheckedWebhookURL?, author: String) async throws -> String? {
        try validateText(author, field: "actor", maxLength: 200)
        let secret = url == nil ? nil : Self.newWebhookSecret()
        try await transaction { connection in
            try await connection.execute("UPDATE market_settings SET admin_webhook_url = \(url?.url), admin_webhook_secret = \(secret), updated_by = \(author), updated_at = now()")
            try await connection.audit(.administrator(author), url == nil ? "settings.admin_webhook_off" : "settings.admin_webhook_set", "settings", "market")
        }
        return secret
    }

    public func adminWebhook() async throws -> Webhook? {
        let (url, secret) = try await query("SELECT admin_webhook_url, admin_webhook_secret FROM market_settings").decode(String?.self, String?.self).first ?? (nil, nil)
        guard let url, let secret else { return nil }
        return Webhook(url: url, secret: secret)
    }
}

/// A statement to insert.
struct NewStatement: Sendable {
    var period: BillingPeriod
    var entitlementID: UUID
    var buyerID: UUID
    var sellerID: UUID
    var agencyID: UUID?
    var adjusts: UUID?
    var units: Int64
    var amountFen: Int64
    var agencyShareFen: Int64
    var lines: [Quote.Line]
    var rules: [Quote.RuleReference]
    var pricedAt: Date?
    var reason: String?
}

/// What pricing a month's statements needs besides each entitlement's row, read once and kept across chunks.
struct StatementPricing: Sendable {
    var rules: [PricingRule]
    var versions: [String: ProductVersion] = [:]
    var operatorSince: [UUID: Date?] = [:]
    var verifications: [UUID: [Verification]] = [:]

    init(rules: [PricingRule]) { self.rules = rules }

}

extension PostgresConnection {
    static let statementColumns = """
        s.id, s.number, s.period, s.entitlement_id, s.buyer_id, s.seller_id, s.agency_id, s.kind, s.adjusts, s.units, s.amount_fen,
        s.agency_share_fen, s.lines, s.rules, s.priced_at, s.reason, s.issued_by, s.issued_at
        """

    func statements(where condition: PostgresQuery) async throws -> [Statement] {
        try await query("SELECT \(unsafeRaw: Self.statementColumns) FROM statements s WHERE \(condition)").map { row in
            let (id, number, period, entitlement, buyer, seller, agency, kind, adjusts) = try row.decode(
                UUID.self, Int64.self, CalendarDate.self, UUID.self, UUID.self, UUID.self, UUID?.self, String.self, UUID?.self, at: 0)
            let (units, amount, share, lines, rules, priced, reason, by, at) = try row.decode(
                Int64.self, Int64.self, Int64.self, JSONB<[Quote.Line]>.self, JSONB<[Quote.RuleReference]>.self, Date.self, String?.self,
                String.self, Date.self, at: 9)
            return Statement(id: id, number: number, period: BillingPeriod(period), entitlementID: entitlement, buyerID: buyer, sellerID: seller,
                             agencyID: agency, kind: try Rows.known(kind, Statement.Kind.self, "statements.kind"), adjusts: adjusts, units: units,
                             amountFen: amount, agencyShareFen: share, lines: lines.value, rules: rules.value, pricedAt: priced, reason: reason,
                             issuedBy: by, issuedAt: at)
        }
    }

    /// Inserts statements with their ledger entries in one SQL statement (the balance is checked at its
    /// end); a regular statement already issued for its entitlement and month is skipped. Returns the ids
    /// of those inserted.
    func insertStatements(_ statements: [NewStatement], author: String) async throws -> [UUID] {
        guard !statements.isEmpty else { return [] }
        let ids = statements.map { _ in UUID() }
        return try await query("""
            WITH input AS (
                SELECT * FROM unnest(\(ids), \(statements.map(\.period.first)), \(statements.map(\.entitlementID)), \(statements.map(\.buyerID)),
                                     \(statements.map(\.sellerID)), \(statements.map(\.agencyID)), \(statements.map(\.adjusts)), \(statements.map(\.units)),
                                     \(statements.map(\.amountFen)), \(statements.map(\.agencyShareFen)), \(try statements.map { try json($0.lines) })::jsonb[],
                                     \(try statements.map { try json($0.rules) })::jsonb[], \(statements.map(\.pricedAt)), \(statements.map(\.reason)))
                    AS i(id, period, entitlement_id, buyer_id, seller_id, agency_id, adjusts, units, amount_fen, agency_share_fen, lines, rules,
                         priced_at, reason)
            ), issued AS (
                INSERT INTO statements (id, period, entitlement_id, buyer_id, seller_id, agency_id, kind, adjusts, units, amount_fen,
                                        agency_share_fen, lines, rules, priced_at, reason, issued_by)
                SELECT id, period, entitlement_id, buyer_id, seller_id, agency_id, CASE WHEN adjusts IS NULL THEN 'regular' ELSE 'adjusting' END,
                       adjusts, units, amount_fen, agency_share_fen, lines, rules, coalesce(priced_at, now()), reason, \(author)
                FROM input
                ON CONFLICT (entitlement_id, period) WHERE kind = 'regular' DO NOTHING
                RETURNING id, period, buyer_id, seller_id, agency_id, amount_fen, agency_share_fen
            ), entries AS (
                INSERT INTO ledger_entries (statement_id, period, party_id, account, amount_fen)
                SELECT id, period, buyer_id, 'buyer', -amount_fen FROM issued WHERE amount_fen <> 0
                UNION ALL
                SELECT id, period, seller_id, 'seller', amount_fen - agency_share_fen FROM issued WHERE amount_fen <> agency_share_fen
                UNION ALL
                SELECT id, period, agency_id, 'agency', agency_share_fen FROM issued WHERE agency_share_fen <> 0
            )
            SELECT id FROM issued
            """).decode(UUID.self)
    }

    /// Prices and issues up to `limit` of the month's statements after `cursor` (entitlement id order);
    /// returns how many were issued and the last entitlement looked at (nil: none left).
    func issueStatements(_ period: BillingPeriod, after cursor: UUID?, limit: Int, pricing: inout StatementPricing,
                         author: String) async throws -> (Int, UUID?) {
        let rows = try await query("""
            SELECT e.id, e.buyer_id, e.seller_id, e.product_id, e.product_version, e.scenario, e.purpose::text, e.starts_at,
                   CASE WHEN e.units_granted IS NULL THEN o.quantity
                        ELSE (SELECT coalesce(sum(u.units), 0)::int8 FROM usage_daily u
                              WHERE u.entitlement_id = e.id AND u.day >= \(period.first) AND u.day < \(period.next.first)) END,
                   a.agency_id, coalesce(a.agency_share_permille, 0),
                   \(unsafeRaw: Rows.purposeApprovalColumn("d"))
            FROM entitlements e
            JOIN orders o ON o.id = e.order_id
            JOIN products p ON p.id = e.product_id
            LEFT JOIN authorizations a ON a.id = p.authorization_id
            LEFT JOIN matches m ON m.id = o.match_id
            LEFT JOIN demands d ON d.id = m.demand_id
            WHERE e.id > \(cursor ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
              AND (CASE WHEN e.units_granted IS NULL
                        THEN e.starts_at >= \(period.start) AND e.starts_at < \(period.end)
                        ELSE EXISTS (SELECT 1 FROM usage_daily u WHERE u.entitlement_id = e.id AND u.day >= \(period.first)
                                     AND u.day < \(period.next.first) AND u.units > 0) END)
              AND NOT EXISTS (SELECT 1 FROM statements s WHERE s.entitlement_id = e.id AND s.period = \(period.first) AND s.kind = 'regular')
            ORDER BY e.id LIMIT \(Int32(limit))
            """)
        guard !rows.isEmpty else { return (0, nil) }
        struct Due { var id, buyer, seller, product: UUID; var version: Int; var scenario: String?; var purpose: Purpose; var startsAt: Date
                     var quantity: Int64; var agency: UUID?; var share: Int; var approval: PurposeApproval? }
        let due = try rows.map { row in
            let (id, buyer, seller, product, version, scenario, purpose, starts) = try row.decode(
                UUID.self, UUID.self, UUID.self, UUID.self, Int32.self, String?.self, String.self, Date.self, at: 0)
            let (quantity, agency, share) = try row.decode(Int64.self, UUID?.self, Int32.self, at: 8)
            return Due(id: id, buyer: buyer, seller: seller, product: product, version: Int(version), scenario: scenario,
                       purpose: try Rows.known(purpose, Purpose.self, "entitlements.purpose"), startsAt: starts, quantity: quantity, agency: agency,
                       share: Int(share), approval: try Rows.purposeApproval(row, at: 11))
        }
        // What the chunk lacks, one query per kind.
        for (product, version) in Set(due.map { "\($0.product)/\($0.version)" }).compactMap({ key -> (UUID, Int)? in
            let parts = key.split(separator: "/"); return (UUID(uuidString: String(parts[0]))!, Int(parts[1])!)
        }) where pricing.versions["\(product)/\(version)"] == nil {
            pricing.versions["\(product)/\(version)"] = try await productVersion(product, version)
        }
        let sellers = Array(Set(due.map(\.seller)).filter { pricing.operatorSince[$0] == nil })
        if !sellers.isEmpty {
            for seller in sellers { pricing.operatorSince[seller] = .some(nil) }
            for (seller, since) in try await query("""
                SELECT operator_id, min(greatest(lower(validity), created_at)) FROM authorizations WHERE operator_id = ANY(\(sellers)) GROUP BY 1
                """).decode(UUID.self, Date.self) { pricing.operatorSince[seller] = since }
        }
        let buyers = Array(Set(due.map(\.buyer)).filter { pricing.verifications[$0] == nil })
        if !buyers.isEmpty {
            for buyer in buyers { pricing.verifications[buyer] = [] }
            for (party, id, partyClass, evidence, expires) in try await query("""
                SELECT party_id, id, class::text, evidence, expires_at FROM party_verifications
                WHERE party_id = ANY(\(buyers)) AND revoked_at IS NULL ORDER BY expires_at, id
                """).decode(UUID.self, UUID.self, String.self, String.self, Date.self) {
                pricing.verifications[party, default: []].append(
                    Verification(id: id, partyClass: try Rows.known(partyClass, PartyClass.self, "party_verifications.class"), evidence: evidence, expiresAt: expires))
            }
        }
        let statements = try due.map { item -> NewStatement in
            guard let version = pricing.versions["\(item.product)/\(item.version)"] else { throw MarketNotFound("product version", item.product) }
            let instant = max(period.start, item.startsAt)
            let priced = PricedProduct(id: item.product, operatorID: item.seller, version: version, operatorSince: pricing.operatorSince[item.seller] ?? nil)
            let purchase = PricedPurchase(quantity: max(item.quantity, 1), purpose: item.purpose, verifications: pricing.verifications[item.buyer] ?? [],
                                          purposeApproval: item.approval, scenario: item.scenario)
            let quote: Quote
            do throws(MarketInputError) {
                quote = try Pricing.quote(priced, purchase, rules: pricing.rules, at: instant)
            } catch {
                throw MarketInputError(field: "entitlement \(item.id.lowercased)", rule: "cannot be priced for \(period): \(error.rule)")
            }
            return NewStatement(period: period, entitlementID: item.id, buyerID: item.buyer, sellerID: item.seller, agencyID: item.agency, adjusts: nil,
                                units: item.quantity, amountFen: quote.amountFen,
                                agencyShareFen: item.agency == nil ? 0 : MarketStore.share(of: quote.amountFen, permille: item.share),
                                lines: quote.lines, rules: quote.rules, pricedAt: instant, reason: nil)
        }
        let issued = try await insertStatements(statements, author: author)
        return (issued.count, due.last?.id)
    }
}

extension MarketStore {
    /// A day after a month ends, usage reported late has arrived: its scheduled close runs then.
    public static let closeGrace: TimeInterval = 86_400

    /// Schedules the close of `period` (once: a pending close of the same month is kept).
    public func scheduleClose(of period: BillingPeriod) async throws {
        try await transaction { connection in
            _ = try await connection.enqueue(NewJob(ClosePeriodJob(period: period.description), runAt: period.end + Self.closeGrace,
                                                uniqueKey: ClosePeriodJob.uniqueKey(period.description)))
        }
    }
}
