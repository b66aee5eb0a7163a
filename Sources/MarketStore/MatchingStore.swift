public import Foundation
import JobQueue
import Market
public import Postgres

extension MarketStore {
    /// What matching a demand did.
    public struct DemandMatching: Sendable, Equatable {
        /// The proposals made, best first.
        public var proposed: [UUID]
        /// The products the indexes found before the hard rules and the score.
        public var candidates: Int
    }

    /// Finds the best listed products for an open demand and proposes those of the top `limit` it does
    /// not hold yet.
    ///
    /// Candidates come from `catalogue` when it is given and ready (every listed product sharing a match
    /// key with the demand: its sector, an overlapping region and delivery mode, under an authorization in
    /// force), else from the database with one GIN lookup on the same keys, at most `candidates` of them,
    /// pre-ordered by what SQL estimates cheaply (scenario, fields, tags). Every score component but the
    /// price is computed for each; candidates are then priced (and held to the budget and the
    /// anti-monopoly rule) best first, until no unpriced one could still enter the top `limit` even with a
    /// full price score. Equal scores are ordered by product id. The proposals go in with one statement,
    /// which checks each product for sale against the database whatever the copy said. A demand that is
    /// not open or matched, or has expired, is left alone.
    public func matchDemand(_ demandID: UUID, limit: Int = 10, candidates candidateLimit: Int = 100, catalogue: CatalogueMemory? = nil,
                            by actor: Actor = .system) async throws -> DemandMatching {
        guard let result = try await matchDemands([demandID], limit: limit, candidates: candidateLimit, catalogue: catalogue, by: actor)[demandID]
        else { throw MarketNotFound("demand", demandID) }
        return result
    }

    /// Matches many demands together (see `matchDemand`): one read of the demands, their candidates and
    /// scores, and one transaction for every proposal, their audit events and state changes, in which
    /// `completing` runs too (a worker completes the demands' jobs there, so that jobs and proposals commit
    /// together). Demands that do not exist are missing from the result.
    public func matchDemands(_ demandIDs: [UUID], limit: Int = 10, candidates candidateLimit: Int = 100, catalogue: CatalogueMemory? = nil,
                             by actor: Actor = .system,
                             completing: (@Sendable (isolated PostgresConnection) async throws -> Void)? = nil) async throws -> [UUID: DemandMatching] {
        try await read { connection in
            let subjects = try await connection.matchingSubjects(demandIDs)
            let rules = try await connection.allRuleVersions()
            if let catalogue { try await catalogue.refreshGrantsIfOld(on: connection) }
            var results: [UUID: DemandMatching] = [:]
            var chosen: [NewMatch] = []
            var notify = false
            for demandID in demandIDs where results[demandID] == nil {
                guard let subject = subjects[demandID] else { continue }
                // A suspended demander's demands wait (they are matched again when it is reinstated).
                guard subject.state == .open || subject.state == .matched, subject.demand.expiresAt > subject.now, subject.buyer.state == .active else {
                    results[demandID] = DemandMatching(proposed: [], candidates: 0)
                    continue
                }
                let (best, count) = try await connection.bestCandidates(subject, rules: rules, limit: limit, candidates: candidateLimit,
                                                                        catalogue: catalogue)
                chosen += best.filter { !$0.held }.map { $0.match(demandID: demandID) }
                notify = notify || subject.buyerHasWebhook
                results[demandID] = DemandMatching(proposed: [], candidates: count)
            }
            let proposed = try await connection.retrying { [chosen, notify] connection in
                let stored = try await connection.proposing(chosen, actor: actor, notify: notify)
                try await completing?(connection)
                return stored
            }
            for (id, match) in proposed { results[match.demandID]?.proposed.append(id) }
            return results
        }
    }

    /// Offers a newly listed product (or version) to the open demands it serves: each candidate demand
    /// (same sector, overlapping regions and delivery modes, not expired) gets a proposal when the product
    /// passes its hard rules and ranks within its top `limit`. The demands, their demanders and the score
    /// each must beat come from one query; the proposals go in with one transaction. Returns them.
    public func matchProduct(_ productID: UUID, limit: Int = 10, by actor: Actor = .system) async throws -> [UUID] {
        try await read { connection in
            let stored = try await connection.product(productID, lock: false)
            guard stored.state == .listed else { return [] }
            let facts = try await connection.query("""
                SELECT (SELECT min(greatest(lower(validity), created_at)) FROM authorizations WHERE operator_id = \(stored.operatorID)),
                       EXISTS (SELECT 1 FROM authorizations WHERE id = \(stored.authorizationID) AND state = 'active' AND validity @> now())
                       AND EXISTS (SELECT 1 FROM parties WHERE id = \(stored.operatorID) AND state = 'active'),
                       now()
                """)
            guard let fact = facts.first else { return [] }
            let (since, inForce, now) = try fact.decode(Date?.self, Bool.self, Date.self)
            guard inForce else { return [] }
            let version = stored.current
            let product = PricedProduct(id: productID, operatorID: stored.operatorID, version: version, operatorSince: since)
            let rules = try await connection.allRuleVersions()
            let keys = offeredKeys(version.sector, version.regions, version.deliveryModes)
            let rows = try await connection.query(Self.demandsServed(by: productID, keys: keys, limit: limit))
            var subjects: [(MatchingSubject, toBeat: Double?)] = []
            for row in rows {
                subjects.append((try PostgresConnection.subject(row, now: now), try row.decode(Double?.self, at: PostgresConnection.subjectColumnCount)))
            }
            // The demanders' verified classes (their quotes need them), for all of them in one query.
            let buyers = Dictionary(try await connection.withVerifications(subjects.map(\.0.buyer)).map { ($0.id, $0) }) { first, _ in first }
            for index in subjects.indices { subjects[index].0.buyer = buyers[subjects[index].0.buyer.id] ?? subjects[index].0.buyer }
            // Rule 4 from the product's side: the parties that may not buy it (the holders of the authorizations
            // in force covering it, and every party affiliated with one), in one query over a few grants.
            let barred = try await connection.partiesBarredFromBuying(version)
            var matches: [NewMatch] = []
            // What scoring reads of the product (its text's bigrams among them), prepared once for every demand.
            let scored = Matching.ProductFacts(version)
            for (subject, toBeat) in subjects where !barred.contains(subject.buyer.id) {
                guard let candidate = Candidate(subject, product, version: stored.version, rules: rules, held: false, facts: scored) else { continue }
                guard toBeat.map({ candidate.score.total > $0 }) ?? true else { continue }
                matches.append(candidate.match(demandID: subject.demandID))
            }
            let notify = subjects.contains { $0.0.buyerHasWebhook }
            return try await connection.retrying { [matches] connection in try await connection.propose(matches, actor: actor, notify: notify) }
        }
    }
}

extension MarketStore {
    /// The open and matched demands a product's keys serve (through `demands_wanted_keys`) that hold no live
    /// proposal of it, with the score a proposal must beat to enter a full top `limit`.
    static func demandsServed(by productID: UUID, keys: [String], limit: Int) -> PostgresQuery {
        """
        SELECT \(unsafeRaw: PostgresConnection.subjectColumns),
               (SELECT score FROM matches m WHERE m.demand_id = d.id AND m.state = 'proposed'
                ORDER BY score DESC LIMIT 1 OFFSET \(Int32(limit - 1)))
        FROM demands d JOIN parties b ON b.id = d.demander_id
        WHERE d.live AND d.state IN ('open', 'matched') AND d.expires_at > now() AND b.state = 'active'
          AND pdx_wanted_keys(d.sector, d.regions, d.delivery_modes) && \(keys)
          AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.demand_id = d.id AND m.product_id = \(productID) AND m.state <> 'withdrawn')
        ORDER BY d.id
        LIMIT 5000
        """
    }
}

/// The keys of what a product offers (`pdx_offered_keys`, sql/0014_region_hierarchy.sql, which the
/// catalogue indexes): "sector/R/mode" for each region R and delivery mode, and "sector/^A/mode" for each
/// division A containing R (R included).
func offeredKeys(_ sector: String, _ regions: [RegionCode], _ modes: [DeliveryMode]) -> [String] {
    Array(Set(regions.flatMap { region in
        modes.flatMap { mode in ["\(sector)/\(region.value)/\(mode.rawValue)"] + region.lineage.map { "\(sector)/^\($0.value)/\(mode.rawValue)" } }
    })).sorted()
}

/// The keys of what a demand wants (`pdx_wanted_keys`, which open demands are indexed by): "sector/A/mode"
/// for each division A containing a region D of the demand (D included), and "sector/^D/mode". An
/// offered and a wanted key are equal exactly when the sector and a delivery mode agree and a region of
/// one lies within a region of the other.
func wantedKeys(_ sector: String, _ regions: [RegionCode], _ modes: [DeliveryMode]) -> [String] {
    Array(Set(regions.flatMap { region in
        modes.flatMap { mode in region.lineage.map { "\(sector)/\($0.value)/\(mode.rawValue)" } + ["\(sector)/^\(region.value)/\(mode.rawValue)"] }
    })).sorted()
}

/// A demand as matching sees it: the request, its demander and the demander's authorizations in force
/// (for the anti-monopoly rule), with the database's clock.
struct MatchingSubject: Sendable {
    var demandID: UUID
    var demand: DemandRequest
    var state: DemandState
    var buyer: Party
    /// The authorizations in force of the demander and of every party affiliated with it (rule 4).
    var buyerAuthorizations: [Authorization]
    /// An agency's approval of the demand's public-interest purpose (the latest review, if it approved).
    var purposeApproval: PurposeApproval?
    var now: Date
    /// Whether the demander would hear of new matches.
    var buyerHasWebhook: Bool
    /// Products the demand accepted or declined: never proposed to it again.
    var settled: [UUID] = []
    /// Products proposed to the demand now.
    var proposed: [UUID] = []
}

/// A catalogue row as matching reads it.
struct CatalogueRow: Sendable {
    var product: PricedProduct
    var version: Int
    /// Already proposed to the demand.
    var held: Bool
}

/// A product that passed a demand's hard rules, with its quote and score.
struct Candidate: Sendable {
    var product: UUID
    var version: Int
    var quote: Quote
    var score: Matching.Score
    /// Already proposed to the demand.
    var held: Bool

    /// Nil when a hard rule rules the product out for the subject. `scorer` and `partial` may come
    /// precomputed (matching one demand against many products), or `facts` (one product against many demands).
    init?(_ subject: MatchingSubject, _ product: PricedProduct, version: Int, rules: [PricingRule], held: Bool,
          scorer: Matching.Scorer? = nil, partial: Matching.Scorer.Partial? = nil, facts: Matching.ProductFacts? = nil) {
        let demand = subject.demand
        let purchase = PricedPurchase(quantity: demand.quantity, purpose: demand.purpose, verifications: subject.buyer.verifications,
                                      purposeApproval: subject.purposeApproval, scenario: demand.scenario)
        guard let quote = try? Pricing.quote(product, purchase, rules: rules, at: subject.now),
              Matching.exclusions(demand: demand, product: product.version, quote: quote).isEmpty,
              (try? Policy.checkAntiMonopoly(buyer: subject.buyer, authorizations: subject.buyerAuthorizations,
                                             product: product.version, at: subject.now)) != nil
        else { return nil }
        self.product = product.id
        self.version = version
        self.quote = quote
        let scorer = scorer ?? Matching.Scorer(demand)
        self.score = scorer.score(partial ?? Matching.Scorer.Partial(scorer, facts ?? Matching.ProductFacts(product.version)), quote: quote)
        self.held = held
    }

    /// Higher scores first; equal scores by product id, so the order is deterministic.
    static func better(_ a: Candidate, _ b: Candidate) -> Bool {
        a.score.total != b.score.total ? a.score.total > b.score.total : a.product.uuidString < b.product.uuidString
    }

    func match(demandID: UUID) -> NewMatch {
        let reasons = MatchJSON.reasons(score.reasons)
        return NewMatch(demandID: demandID, productID: product, productVersion: version, score: score.total, reasonsJSON: reasons, quote: quote)
    }
}

extension PostgresConnection {
    static let subjectColumns = """
        d.id, d.title, d.description, d.sector, d.scenario, d.purpose::text, d.regions, d.fields_wanted, d.tags, d.quantity,
        d.budget_fen, d.delivery_modes::text[], d.expires_at, d.state::text, b.webhook_url IS NOT NULL, \(Rows.partyColumns("b")),
        \(Rows.purposeApprovalColumn("d"))
        """
    static let subjectColumnCount = 16 + Rows.partyColumnCount

    static func subject(_ row: PostgresRow, now: Date) throws -> MatchingSubject {
        let (id, title, description, sector, scenario, purpose, regions, fields, tags, quantity, budget, modes, expires, state, webhook) = try row.decode(
            UUID.self, String.self, String.self, String.self, String.self, String.self, [String].self, [String].self, [String].self,
            Int64.self, Int64.self, [String].self, Date.self, String.self, Bool.self, at: 0)
        let demand = DemandRequest(title: title, description: description, sector: sector, scenario: scenario,
                                   purpose: try Rows.known(purpose, Purpose.self, "demands.purpose"), regions: try Rows.regionCodes(regions),
                                   fieldsWanted: fields, tags: tags, quantity: quantity, budgetFen: budget,
                                   deliveryModes: try modes.map { try Rows.known($0, DeliveryMode.self, "demands.delivery_modes") }, expiresAt: expires)
        let approval = try Rows.purposeApproval(row, at: 15 + Rows.partyColumnCount)
        return MatchingSubject(demandID: id, demand: demand, state: try Rows.known(state, DemandState.self, "demands.state"),
                               buyer: try Rows.party(row, from: 15), buyerAuthorizations: [], purposeApproval: approval, now: now,
                               buyerHasWebhook: webhook)
    }

    /// The best `limit` products for a subject that pass its hard rules, with how many candidates were scored.
    func bestCandidates(_ subject: MatchingSubject, rules: [PricingRule], limit: Int, candidates candidateLimit: Int,
                        catalogue: CatalogueMemory?) async throws -> ([Candidate], Int) {
        let scorer = Matching.Scorer(subject.demand)
        // Best bound first; a candidate is scored in full, then priced, only while it could still enter the top
        // `limit` (its bound, then its partial score, plus a full price score, reaching the last one's score), so
        // the result is that of scoring and pricing every candidate. (A little slack for rounding.)
        var best: [Candidate] = []
        func outranked(_ upper: Double) -> Bool {
            guard best.count == limit, let last = best.last else { return false }
            return upper + Matching.priceWeight + 1e-9 < last.score.total
        }
        func consider(_ item: CatalogueMemory.Item, held: Bool, operatorSince: Date?) {
            let partial = Matching.Scorer.Partial(scorer, item.facts)
            if outranked(partial.total) { return }
            var product = item.product
            product.operatorSince = operatorSince
            guard let candidate = Candidate(subject, product, version: item.version, rules: rules, held: held,
                                            scorer: scorer, partial: partial) else { return }
            best.append(candidate)
            best.sort(by: Candidate.better)
            if best.count > limit { best.removeLast() }
        }
        if let catalogue, let (found, generation, since) = catalogue.candidates(for: subject, scorer: scorer) {
            // The items are fetched a few at a time, as the loop gets to them: most candidates are never read.
            let order = found.sorted { $0.bound > $1.bound }
            var next = 0, chunk = 32
            while next < order.count, !outranked(order[next].bound) {
                let taken = order[next..<min(order.count, next + chunk)]
                (next, chunk) = (taken.endIndex, chunk * 2)
                for (item, candidate) in catalogue.items(taken, generation: generation) {
                    if outranked(candidate.bound) { break }
                    consider(item, held: candidate.held, operatorSince: since[item.product.operatorID])
                }
            }
            return (best, found.count)
        }
        let rows = try await catalogueCandidates(for: subject, limit: candidateLimit)
        let order = rows.map { row in
            let facts = Matching.ProductFacts(row.product.version)
            return (row: row, facts: facts, bound: scorer.bound(facts))
        }.sorted { $0.bound > $1.bound }
        for (row, facts, bound) in order {
            if outranked(bound) { break }
            consider(CatalogueMemory.Item(product: row.product, version: row.version, facts: facts), held: row.held,
                     operatorSince: row.product.operatorSince)
        }
        return (best, rows.count)
    }

    /// Listed products under an authorization in force that share a match key with the demand and are
    /// not settled for it, best estimated first.
    func catalogueCandidates(for subject: MatchingSubject, limit: Int) async throws -> [CatalogueRow] {
        let demand = subject.demand
        let rows = try await query("""
            SELECT c.product_id, c.version, c.operator_id,
                   (SELECT min(greatest(lower(validity), created_at)) FROM authorizations WHERE operator_id = c.operator_id),
                   EXISTS (SELECT 1 FROM matches m WHERE m.demand_id = \(subject.demandID) AND m.product_id = c.product_id AND m.state = 'proposed'),
                   \(unsafeRaw: Rows.versionColumns("c"))
            FROM catalogue c
            WHERE c.match_keys && \(wantedKeys(demand.sector, demand.regions, demand.deliveryModes))
              AND c.authorization_id IN (SELECT id FROM authorizations WHERE state = 'active' AND validity @> now())
              AND c.product_id <> ALL(\(subject.settled))
            ORDER BY (c.scenarios @> ARRAY[\(demand.scenario)])::int * 0.2 + (c.fields @> \(demand.fieldsWanted))::int * 0.25
                     + (c.fields && \(demand.fieldsWanted))::int * 0.1 + (c.tags && \(demand.tags))::int * 0.1 DESC, c.product_id
            LIMIT \(Int32(limit))
            """)
        return try rows.map { row in
            let (id, version, operatorID, since, held) = try row.decode(UUID.self, Int32.self, UUID.self, Date?.self, Bool.self, at: 0)
            let product = PricedProduct(id: id, operatorID: operatorID, version: try Rows.version(row, from: 5, sources: []), operatorSince: since)
            return CatalogueRow(product: product, version: Int(version), held: held)
        }
    }

    /// A demand with its demander, the demander's verified classes and the authorizations in force of the
    /// demander's affiliated group: one query, and a second only for an operator or an affiliated demander.
    func matchingSubject(_ demandID: UUID) async throws -> MatchingSubject {
        guard let subject = try await matchingSubjects([demandID])[demandID] else { throw MarketNotFound("demand", demandID) }
        return subject
    }

    /// `matchingSubject` for many demands: one query, and a second for all whose demanders may hold grants.
    func matchingSubjects(_ demandIDs: [UUID]) async throws -> [UUID: MatchingSubject] {
        let rows = try await query("""
            SELECT \(unsafeRaw: Self.subjectColumns), now(),
                   ARRAY(SELECT product_id FROM matches WHERE demand_id = d.id AND state IN ('accepted', 'declined')),
                   ARRAY(SELECT id FROM party_verifications v WHERE v.party_id = b.id AND v.revoked_at IS NULL AND v.expires_at > now() ORDER BY v.expires_at, v.id),
                   ARRAY(SELECT class::text FROM party_verifications v WHERE v.party_id = b.id AND v.revoked_at IS NULL AND v.expires_at > now() ORDER BY v.expires_at, v.id),
                   ARRAY(SELECT evidence FROM party_verifications v WHERE v.party_id = b.id AND v.revoked_at IS NULL AND v.expires_at > now() ORDER BY v.expires_at, v.id),
                   ARRAY(SELECT expires_at FROM party_verifications v WHERE v.party_id = b.id AND v.revoked_at IS NULL AND v.expires_at > now() ORDER BY v.expires_at, v.id),
                   b.kind = 'operator' OR EXISTS (SELECT 1 FROM party_affiliations f WHERE f.ended_at IS NULL AND (f.party_id = b.id OR f.affiliate_id = b.id)),
                   ARRAY(SELECT product_id FROM matches WHERE demand_id = d.id AND state = 'proposed')
            FROM demands d JOIN parties b ON b.id = d.demander_id WHERE d.id = ANY(\(demandIDs))
            """)
        var subjects: [UUID: MatchingSubject] = [:]
        var mayHoldGrants: Set<UUID> = []
        for row in rows {
            let (now, settled, ids, classes, evidence, expiries, holds, proposed) = try row.decode(
                Date.self, [UUID].self, [UUID].self, [String].self, [String].self, [Date].self, Bool.self, [UUID].self, at: Self.subjectColumnCount)
            var subject = try Self.subject(row, now: now)
            subject.settled = settled
            subject.proposed = proposed
            subject.buyer.verifications = try ids.indices.map { index in
                Verification(id: ids[index], partyClass: try Rows.known(classes[index], PartyClass.self, "party_verifications.class"),
                             evidence: evidence[index], expiresAt: expiries[index])
            }
            if holds { mayHoldGrants.insert(subject.buyer.id) }
            subjects[subject.demandID] = subject
        }
        if !mayHoldGrants.isEmpty {
            let held = try await authorizationsInForce(of: mayHoldGrants)
            for (id, subject) in subjects where mayHoldGrants.contains(subject.buyer.id) {
                subjects[id]?.buyerAuthorizations = held[subject.buyer.id] ?? []
            }
        }
        return subjects
    }

    /// Stores proposals (skipping any the demand already holds), audits them, moves open demands to
    /// matched and (unless no recipient can have a webhook) enqueues their notifications, in the caller's
    /// transaction. Returns the ids stored, in the order given.
    ///
    /// A proposal is stored only while its product is for sale at its version and its demand is open or
    /// matched and not expired, and it holds their locks until it commits: a delisting, suspension,
    /// revocation or revision in flight is waited for and then seen, and so is a cancellation or expiry of
    /// the demand (whose withdrawal, having to wait for the demand's lock, in turn sees the proposal).
    func propose(_ matches: [NewMatch], actor: Actor, notify: Bool = true) async throws -> [UUID] {
        try await proposing(matches, actor: actor, notify: notify).map(\.id)
    }

    /// `propose`, returning each proposal stored with what it proposed.
    func proposing(_ matches: [NewMatch], actor: Actor, notify: Bool = true) async throws -> [(id: UUID, match: NewMatch)] {
        guard !matches.isEmpty else { return [] }
        for match in matches where !(0...1).contains(match.score) { throw MarketInputError(field: "score", rule: "must be from 0 to 1") }
        let ids = matches.map { _ in UUID() }
        // One statement: the proposals, their audit events, the open demands moved to matched and theirs.
        // Locks are taken in the market's order, authorizations, products, demands (then matches), each in
        // id order, as every other writer takes them: each step waits for the one before (it reads it).
        let products = Array(Set(matches.map(\.productID)))
        let stored = Set(try await query("""
            WITH grants AS MATERIALIZED (
                -- In force while the proposals go in: a suspension or revocation in flight is waited for and seen.
                -- A derived product rests on every authorization of its lineage.
                -- (The lineage walked only for derived products: a function call per product costs ~0.1 ms.)
                SELECT id FROM authorizations
                WHERE id IN (SELECT authorization_id FROM products WHERE id = ANY(\(products))
                             UNION ALL
                             SELECT pdx_lineage_grants(d.product_id)
                             FROM (SELECT DISTINCT product_id FROM product_derivations WHERE product_id = ANY(\(products))) AS d)
                  AND state = 'active' AND validity @> now()
                ORDER BY id
                FOR SHARE
            ), for_sale AS MATERIALIZED (
                -- Listed at this version: a delisting, suspension or revision in flight is waited for and seen.
                SELECT id, version FROM products
                WHERE id = ANY(\(products)) AND state = 'listed' AND authorization_id IN (SELECT id FROM grants)
                  AND NOT EXISTS (SELECT 1 FROM product_derivations d WHERE d.product_id = products.id
                                  AND EXISTS (SELECT 1 FROM pdx_lineage_grants(products.id) AS g WHERE g NOT IN (SELECT id FROM grants)))
                ORDER BY id
                FOR SHARE
            ), open_demands AS MATERIALIZED (
                -- Open or matched: a cancellation or expiry in flight is waited for and seen (and its withdrawal,
                -- which waits for this lock, sees these proposals).
                SELECT id, state FROM demands
                WHERE id = ANY(\(Array(Set(matches.map(\.demandID))))) AND state IN ('open', 'matched') AND expires_at > now()
                  AND EXISTS (SELECT 1 FROM for_sale)
                ORDER BY id
                FOR NO KEY UPDATE
            ), inserted AS (
                INSERT INTO matches (id, demand_id, product_id, product_version, score, reasons, quote, quote_fen)
                SELECT u.* FROM unnest(\(ids), \(matches.map(\.demandID)), \(matches.map(\.productID)), \(matches.map { Int32($0.productVersion) }),
                                       \(matches.map(\.score)), \(matches.map(\.reasonsJSON))::jsonb[], \(matches.map { MatchJSON.quote($0.quote) })::jsonb[],
                                       \(matches.map(\.quote.amountFen))) AS u(id, demand_id, product_id, product_version, score, reasons, quote, quote_fen)
                JOIN open_demands d ON d.id = u.demand_id
                JOIN for_sale p ON p.id = u.product_id AND p.version = u.product_version
                ON CONFLICT (demand_id, product_id) WHERE state = 'proposed' DO NOTHING
                RETURNING id, demand_id
            ), proposal_events AS (
                INSERT INTO audit_events (actor, action, subject_type, subject_id, after)
                SELECT \(actor.description), 'match.propose', 'match', id::text, '{"state":"proposed"}' FROM inserted
            ), opened AS (
                -- The state as locked (open_demands), not as this statement's snapshot saw it: a demand reopened
                -- by a transaction that committed while this one waited is open.
                UPDATE demands d SET state = 'matched', state_changed_at = clock_timestamp(), updated_at = now()
                FROM open_demands o
                WHERE d.id = o.id AND o.state = 'open' AND d.id IN (SELECT demand_id FROM inserted)
                RETURNING d.id
            ), opened_events AS (
                INSERT INTO audit_events (actor, action, subject_type, subject_id, before, after)
                SELECT \(actor.description), 'demand.matched', 'demand', id::text, '{"state":"open"}', '{"state":"matched"}' FROM opened
            )
            SELECT id FROM inserted
            """).decode(UUID.self))
        let proposed = zip(ids, matches).filter { stored.contains($0.0) }
        if notify { try await enqueueNotifications(proposed.map { .newMatch(matchID: $0.0, demandID: $0.1.demandID) }) }
        return proposed.map { (id: $0.0, match: $0.1) }
    }

    /// `body` in a transaction run again if it loses a deadlock or a serialization race (nested in the
    /// transaction already open, if any: the outer one decides then).
    func retrying<R: Sendable>(_ body: @Sendable (isolated PostgresConnection) async throws -> R) async throws -> R {
        if transactionStatus != .idle { return try await transaction(body) }
        return try await retryingTransaction(isolation: .readCommitted, body)
    }

    /// The parties rule 4 bars from buying a product version: the holders of the authorizations in force
    /// whose scope covers it (its sector, in one of its regions), and every party affiliated with one.
    /// Read from `authorization_scopes` (a grant's sectors × regions with their spans, kept by trigger):
    /// comparing spans costs nothing, where `pdx_regions_overlap` on every grant of the sector took 6-13 ms
    /// of each new product's match.
    func partiesBarredFromBuying(_ version: ProductVersion) async throws -> Set<UUID> {
        Set(try await query("""
            SELECT DISTINCT barred
            FROM authorizations a, LATERAL unnest(pdx_affiliated(a.operator_id)) AS barred
            WHERE a.id IN (SELECT s.authorization_id FROM authorization_scopes s
                           WHERE s.sector = \(version.sector)
                             AND s.region_span && ANY (ARRAY(SELECT pdx_region_span(r) FROM unnest(\(version.regions.map(\.value))::text[]) AS r)))
              AND a.state = 'active' AND a.validity @> now()
            """).decode(UUID.self))
    }

    /// For each buyer, the authorizations in force held by it or by a party affiliated with it, directly or
    /// through others (for the anti-monopoly rule), in one query. Buyers in no live affiliation cost one
    /// index probe; the affiliated groups are walked only for the others.
    func authorizationsInForce(of buyers: Set<UUID>) async throws -> [UUID: [Authorization]] {
        guard !buyers.isEmpty else { return [:] }
        let rows = try await query("""
            SELECT b.id, a.id, a.agency_id, a.operator_id, a.sectors, a.regions, a.scenarios, a.mode::text, lower(a.validity), upper(a.validity),
                   a.state::text, a.state_changed_at, a.state_reason, a.agency_share_permille
            FROM unnest(\(Array(buyers))::uuid[]) AS b(id)
            JOIN authorizations a ON a.operator_id = ANY(
                CASE WHEN EXISTS (SELECT 1 FROM party_affiliations f WHERE f.ended_at IS NULL AND (f.party_id = b.id OR f.affiliate_id = b.id))
                     THEN pdx_affiliated(b.id) ELSE ARRAY[b.id] END)
            WHERE a.state = 'active' AND a.validity @> now()
            """)
        var found: [UUID: [Authorization]] = [:]
        for row in rows {
            let (buyer, id) = try row.decode(UUID.self, UUID.self, at: 0)
            found[buyer, default: []].append(try Self.authorization(row, id: id, from: 2))
        }
        return found
    }
}

extension MarketStore {
    /// Live proposals that break a hard rule, checked in SQL independently of the matcher: sector, region,
    /// delivery mode, product listed at the proposal's version, demand not ended, authorization active and
    /// in force, grading (no core data; important
    /// data only in a sandbox), the budget, free public-interest use, and the anti-monopoly rule. Zero is
    /// the only right answer; `pdx bench match` reports it.
    public func proposalsBreakingHardRules() async throws -> Int {
        Int(try await query("""
            SELECT count(*) FROM matches m
            JOIN demands d ON d.id = m.demand_id
            JOIN parties b ON b.id = d.demander_id
            JOIN products p ON p.id = m.product_id
            JOIN product_versions v ON v.product_id = m.product_id AND v.version = m.product_version
            JOIN authorizations a ON a.id = p.authorization_id
            WHERE m.state = 'proposed' AND (
                v.sector <> d.sector OR NOT pdx_regions_overlap(v.regions, d.regions) OR NOT v.delivery_modes && d.delivery_modes
                OR p.state <> 'listed' OR a.state <> 'active' OR NOT a.validity @> m.created_at
                OR m.product_version <> p.version OR d.state IN ('draft', 'fulfilled', 'expired', 'cancelled')
                OR m.quote_fen > d.budget_fen
                OR (d.purpose IN ('public_welfare', 'public_governance') AND m.quote_fen <> 0
                    AND NOT m.quote -> 'lines' @> '[{"step": "public_interest_unverified"}]')
                OR EXISTS (SELECT 1 FROM product_version_sources s JOIN data_resources r ON r.id = s.resource_id
                           WHERE s.product_id = v.product_id AND s.version = v.version
                             AND (r.grade = 'core' OR (r.grade = 'important' AND v.delivery_modes <> '{sandbox}')))
                OR pdx_anti_monopoly_holder(b.id, m.product_id, m.product_version) IS NOT NULL)
            """).scalar(Int64.self) ?? 0)
    }
}
