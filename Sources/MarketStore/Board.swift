public import Foundation
public import Market
import Postgres

/// What the demand board is asked for: every criterion is optional.
public struct BoardQuery: Sendable, Equatable {
    public var sector: String?
    /// Demands with a region inside this one or containing it.
    public var region: RegionCode?
    public var scenario: String?
    public var purpose: Purpose?
    /// Words in the title or the description (a substring, any case).
    public var text: String?

    public init(sector: String? = nil, region: RegionCode? = nil, scenario: String? = nil, purpose: Purpose? = nil, text: String? = nil) {
        self.sector = sector
        self.region = region
        self.scenario = scenario
        self.purpose = purpose
        self.text = text
    }

    public func validate() throws(MarketInputError) {
        if let sector { try validateSlugs([sector], field: "sector") }
        if let scenario { try validateSlugs([scenario], field: "scenario") }
        if let text { try validateText(text, field: "q", maxLength: 200) }
    }
}

/// An open demand as a supplier sees it on the board: the request, its age and competition, and its
/// demander only when the demander chose to show itself.
public struct DemandOnBoard: Sendable, Equatable {
    public var id: UUID
    public var request: DemandRequest
    public var state: DemandState
    /// When it was first opened.
    public var openedAt: Date
    /// Live proposals it holds.
    public var proposals: Int
    /// Its demander, if it shows its identity.
    public var demander: (id: UUID, name: String)?

    public static func == (a: DemandOnBoard, b: DemandOnBoard) -> Bool {
        a.id == b.id && a.request == b.request && a.state == b.state && a.openedAt == b.openedAt && a.proposals == b.proposals
            && a.demander?.id == b.demander?.id && a.demander?.name == b.demander?.name
    }
}

/// A saved board query whose new demands an operator hears of.
public struct BoardFollow: Sendable, Equatable {
    public var id: UUID
    public var query: BoardQuery
    public var createdAt: Date
}

extension MarketStore {
    /// The most follows an operator keeps.
    public static let maximumFollows = 50

    /// The open demands (open or matched, not expired, of an active demander) on `viewer`'s board — an
    /// operator's: inside an authorization in force it holds; an agency's: inside the sectors and regions
    /// of its resources and grants (`pdx_board_visible`) — that meet `query`, in id order after `cursor`.
    /// Other parties have no board. A party never sees its own demands there. With `only`, just that demand
    /// (if it is on the board).
    public func board(of viewer: Party, query boardQuery: BoardQuery, after cursor: UUID? = nil, only: UUID? = nil,
                      limit: Int = 50) async throws -> [DemandOnBoard] {
        guard (1...200).contains(limit) else { throw MarketInputError(field: "limit", rule: "must be from 1 to 200") }
        guard viewer.kind == .operator || viewer.kind == .agency else { throw MarketForbidden("only operators and agencies have a demand board") }
        try boardQuery.validate()
        var conditions: [PostgresQuery] = []
        if let sector = boardQuery.sector { conditions.append("d.sector = \(sector)") }
        if let region = boardQuery.region { conditions.append("pdx_regions_overlap(ARRAY[\(region.value)], d.regions)") }
        if let scenario = boardQuery.scenario { conditions.append("d.scenario = \(scenario)") }
        if let purpose = boardQuery.purpose { conditions.append("d.purpose = \(purpose.rawValue)::pdx_purpose") }
        if let text = boardQuery.text {
            conditions.append("strpos(lower(d.title || ' ' || d.description), lower(\(text))) > 0")
        }
        if let cursor { conditions.append("d.id > \(cursor)") }
        if let only { conditions.append("d.id = \(only)") }
        let rows = try await query("""
            SELECT \(unsafeRaw: PostgresConnection.subjectColumns), now(), d.show_identity, b.name,
                   coalesce((SELECT min(s.entered_at) FROM demand_state_stays s WHERE s.demand_id = d.id AND s.state = 'open'), d.created_at),
                   (SELECT count(*) FROM matches m WHERE m.demand_id = d.id AND m.state = 'proposed')
            FROM demands d JOIN parties b ON b.id = d.demander_id
            WHERE d.state IN ('open', 'matched') AND d.expires_at > now() AND b.state = 'active' AND d.demander_id <> \(viewer.id)
              AND \(conjunction(conditions))
              AND pdx_board_visible(\(viewer.id), \(viewer.kind.rawValue)::pdx_party_kind, d.sector, d.regions)
            ORDER BY d.id
            LIMIT \(Int32(limit))
            """)
        return try rows.map { row in
            let at = PostgresConnection.subjectColumnCount
            let (now, shown, name, opened, proposals) = try row.decode(Date.self, Bool.self, String.self, Date.self, Int64.self, at: at)
            let subject = try PostgresConnection.subject(row, now: now)
            return DemandOnBoard(id: subject.demandID, request: subject.demand, state: subject.state, openedAt: opened, proposals: Int(proposals),
                               demander: shown ? (subject.buyer.id, name) : nil)
        }
    }

    /// Saves a board query for an operator: it hears (`demand.opened`) of each demand opened afterwards that
    /// meets it and is on its board.
    public func follow(_ boardQuery: BoardQuery, operator operatorID: UUID, by actor: Actor) async throws -> BoardFollow {
        try boardQuery.validate()
        guard boardQuery.text == nil else { throw MarketInputError(field: "q", rule: "cannot be followed; follow a sector, region, scenario or purpose") }
        return try await transaction { connection in
            // The party's row, locked: two follows at once count each other.
            let kind = try await connection.query("SELECT kind::text FROM parties WHERE id = \(operatorID) FOR NO KEY UPDATE").scalar(String.self)
            guard kind == PartyKind.operator.rawValue else { throw MarketForbidden("only operators follow the demand board") }
            let count = try await connection.query("SELECT count(*) FROM board_follows WHERE party_id = \(operatorID)").scalar(Int64.self) ?? 0
            guard count < Self.maximumFollows else {
                throw TransitionRefused(subject: "follows", from: "\(count) kept", to: "one more", allowed: ["at most \(Self.maximumFollows); remove one first"])
            }
            let id = UUID()
            let created = try await connection.query("""
                INSERT INTO board_follows (id, party_id, sector, region_code, scenario, purpose)
                VALUES (\(id), \(operatorID), \(boardQuery.sector), \(boardQuery.region?.value), \(boardQuery.scenario),
                        \(boardQuery.purpose?.rawValue)::pdx_purpose)
                RETURNING created_at
                """).scalar(Date.self) ?? Date()
            try await connection.audit(actor, "board.follow", "board_follow", id, after: try json(FollowJSON(boardQuery)))
            return BoardFollow(id: id, query: boardQuery, createdAt: created)
        }
    }

    /// An operator's follows, oldest first.
    public func follows(of operatorID: UUID) async throws -> [BoardFollow] {
        try await query("""
            SELECT id, sector, region_code, scenario, purpose::text, created_at FROM board_follows
            WHERE party_id = \(operatorID) ORDER BY created_at, id
            """).map { row in
            let (id, sector, region, scenario, purpose, created) = try row.decode(UUID.self, String?.self, String?.self, String?.self, String?.self, Date.self)
            let query = BoardQuery(sector: sector, region: try region.map { try RegionCode($0) }, scenario: scenario,
                                   purpose: try purpose.map { try Rows.known($0, Purpose.self, "board_follows.purpose") })
            return BoardFollow(id: id, query: query, createdAt: created)
        }
    }

    /// Removes one of an operator's follows (another's does not exist for it).
    public func unfollow(_ id: UUID, operator operatorID: UUID, by actor: Actor) async throws {
        try await transaction { connection in
            guard try await connection.execute("DELETE FROM board_follows WHERE id = \(id) AND party_id = \(operatorID)") == 1 else {
                throw MarketNotFound("follow", id)
            }
            try await connection.audit(actor, "board.unfollow", "board_follow", id)
        }
    }

    /// An operator proposes one of its listed products to a demand on its board, by hand. The proposal
    /// passes the hard rules the workers' pass (the product for sale under an authorization in force, the
    /// demand's sector, regions, delivery modes and budget, the anti-monopoly rule), is priced the same way
    /// and scored the same way, and is stored through the same statement; it is marked with its proposer.
    /// A refusal says which rule.
    public func proposeByHand(demand demandID: UUID, product productID: UUID, operator operatorID: UUID, by actor: Actor) async throws -> UUID {
        try await read { connection in
            let stored = try await connection.product(productID, lock: false)
            guard stored.operatorID == operatorID else { throw MarketNotFound("product", productID) }
            guard stored.state == .listed else {
                throw TransitionRefused(subject: "product", from: stored.state.rawValue, to: "proposed", allowed: ["listed"])
            }
            let subject = try await connection.matchingSubject(demandID)
            let visible = try await connection.query("""
                SELECT pdx_board_visible(\(operatorID), 'operator', \(subject.demand.sector), \(subject.demand.regions.map(\.value)))
                """).scalar(Bool.self) ?? false
            guard visible, subject.buyer.id != operatorID else { throw MarketNotFound("demand", demandID) }
            guard subject.state == .open || subject.state == .matched, subject.demand.expiresAt > subject.now, subject.buyer.state == .active else {
                throw TransitionRefused(subject: "demand", from: subject.demand.expiresAt > subject.now ? subject.state.rawValue : "expired",
                                        to: "offered a product", allowed: ["open", "matched"])
            }
            guard !subject.settled.contains(productID) else {
                throw TransitionRefused(subject: "demand", from: "has accepted or declined this product", to: "offered it again", allowed: [])
            }
            let facts = try await connection.query("""
                SELECT (SELECT min(greatest(lower(validity), created_at)) FROM authorizations WHERE operator_id = \(operatorID)),
                       NOT EXISTS (SELECT 1 FROM authorizations WHERE id IN (SELECT pdx_lineage_grants(\(productID)))
                                   AND NOT (state = 'active' AND validity @> now())),
                       EXISTS (SELECT 1 FROM matches WHERE demand_id = \(demandID) AND product_id = \(productID) AND state = 'proposed')
                """)
            let (since, inForce, held) = try facts.first?.decode(Date?.self, Bool.self, Bool.self) ?? (nil, false, false)
            guard inForce else { throw PolicyViolation(.scope, "the product's authorization is not in force") }
            guard !held else { throw TransitionRefused(subject: "product", from: "already proposed to this demand", to: "proposed again", allowed: []) }
            let product = PricedProduct(id: productID, operatorID: operatorID, version: stored.current, operatorSince: since)
            let purchase = PricedPurchase(quantity: subject.demand.quantity, purpose: subject.demand.purpose, verifications: subject.buyer.verifications,
                                          purposeApproval: subject.purposeApproval, scenario: subject.demand.scenario)
            let quote = try Pricing.quote(product, purchase, rules: try await connection.allRuleVersions(), at: subject.now)
            let broken = Matching.exclusions(demand: subject.demand, product: stored.current, quote: quote)
            guard broken.isEmpty else {
                throw PolicyViolation(.hardRules, "the product does not serve the demand: " + broken.map { exclusion in
                    exclusion == .budget ? "its quote of \(quote.amountFen) fen is over the budget of \(subject.demand.budgetFen) fen"
                                         : "no \(exclusion.rawValue.replacingOccurrences(of: "_", with: " ")) in common"
                }.joined(separator: "; "))
            }
            let buyerGrants = try await connection.authorizationsInForce(of: [subject.buyer.id])[subject.buyer.id] ?? []
            try Policy.checkAntiMonopoly(buyer: subject.buyer, authorizations: buyerGrants, product: stored.current, at: subject.now)
            let score = Matching.score(demand: subject.demand, product: stored.current, quote: quote)
            let match = NewMatch(demandID: demandID, productID: productID, productVersion: stored.version, score: score.total,
                                 reasonsJSON: MatchJSON.reasons(score.reasons), quote: quote)
            let notify = subject.buyerHasWebhook
            return try await connection.retrying { connection in
                guard let id = try await connection.propose([match], actor: actor, notify: notify).first else {
                    throw TransitionRefused(subject: "proposal", from: "overtaken (the product, its grant or the demand changed meanwhile)",
                                            to: "stored", allowed: [])
                }
                try await connection.execute("UPDATE matches SET proposed_by = \(operatorID) WHERE id = \(id)")
                return id
            }
        }
    }
}

/// A follow's criteria as the audit trail records them.
private struct FollowJSON: Encodable {
    var sector: String?
    var region: String?
    var scenario: String?
    var purpose: String?

    init(_ query: BoardQuery) {
        sector = query.sector
        region = query.region?.value
        scenario = query.scenario
        purpose = query.purpose?.rawValue
    }
}
