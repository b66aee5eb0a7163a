public import Foundation
import Market
import Postgres

extension MarketStore {
    /// What matching a demand did.
    public struct DemandMatching: Sendable, Equatable {
        /// The proposals made, best first.
        public var proposed: [UUID]
        public var candidates: Int
    }

    /// Finds the best listed products for an open demand and proposes the top `limit`: candidates come
    /// from the indexes (sector, overlapping regions and delivery modes, an authorization in force), each
    /// is priced under the rules in force, checked against the hard rules (budget, anti-monopoly) and
    /// scored; equal scores are ordered by product id. Products already proposed to the demand are skipped.
    /// A demand that is not open or matched is left alone.
    public func matchDemand(_ demandID: UUID, limit: Int = 10, by actor: Actor = .system) async throws -> DemandMatching {
        let (demand, demanderID, state) = try await pool.withConnection { connection in try await connection.demandRequest(demandID) }
        guard state == .open || state == .matched else { return DemandMatching(proposed: [], candidates: 0) }
        let candidates = try await pool.query("""
            SELECT p.id, p.version
            FROM products p
            JOIN product_versions v ON v.product_id = p.id AND v.version = p.version
            JOIN authorizations a ON a.id = p.authorization_id
            WHERE p.state = 'listed' AND v.sector = \(demand.sector)
              AND v.regions && \(demand.regions.map(\.value))
              AND v.delivery_modes && \(demand.deliveryModes.map(\.rawValue))::pdx_delivery_mode[]
              AND a.state = 'active' AND a.validity @> now()
              AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.demand_id = \(demandID) AND m.product_id = p.id AND m.state <> 'withdrawn')
            ORDER BY similarity(v.title || ' ' || v.description, \(demand.title + " " + demand.description)) DESC, p.id
            LIMIT 500
            """).decode(UUID.self, Int32.self)
        let buyer = try await party(demanderID)
        let buyerAuthorizations = try await pool.withConnection { try await $0.authorizationsInForce(of: demanderID) }
        let rules = try await pricingRuleVersions()
        var scored: [(score: Matching.Score, product: UUID, version: Int, quote: Quote)] = []
        for (productID, version) in candidates {
            let product = try await self.product(productID)
            let quote = try await pool.withConnection { connection in
                try await connection.quote(productID: productID, quantity: demand.quantity, purpose: demand.purpose, buyerID: demanderID,
                                           scenario: demand.scenario, rules: rules)
            }
            guard Matching.exclusions(demand: demand, product: product.current, quote: quote).isEmpty else { continue }
            guard (try? Policy.checkAntiMonopoly(buyer: buyer, buyerAuthorizations: buyerAuthorizations, product: product.current, at: Date())) != nil else { continue }
            scored.append((Matching.score(demand: demand, product: product.current, quote: quote), productID, Int(version), quote))
        }
        scored.sort { ($0.score.total, $1.product.uuidString) > ($1.score.total, $0.product.uuidString) }
        var proposed: [UUID] = []
        for best in scored.prefix(limit) {
            let reasons = try json(best.score.reasons)
            proposed.append(try await propose(NewMatch(demandID: demandID, productID: best.product, productVersion: best.version,
                                                       score: best.score.total, reasonsJSON: reasons, quote: best.quote), by: actor))
        }
        return DemandMatching(proposed: proposed, candidates: candidates.count)
    }
}

extension PostgresConnection {
    func demandRequest(_ id: UUID) async throws -> (DemandRequest, UUID, DemandState) {
        let rows = try await query("""
            SELECT demander_id, title, description, sector, scenario, purpose::text, regions, fields_wanted, tags, quantity, budget_fen,
                   delivery_modes::text[], expires_at, state::text
            FROM demands WHERE id = \(id)
            """)
        guard let row = rows.first else { throw MarketNotFound("demand", id) }
        let (demander, title, description, sector, scenario, purpose, regions, fields, tags, quantity, budget, modes, expires, state) = try row.decode(
            UUID.self, String.self, String.self, String.self, String.self, String.self, [String].self, [String].self, [String].self,
            Int64.self, Int64.self, [String].self, Date.self, String.self)
        let demand = DemandRequest(title: title, description: description, sector: sector, scenario: scenario,
                                   purpose: Purpose(rawValue: purpose) ?? .industryDevelopment,
                                   regions: try regions.map { code throws(MarketInputError) in try RegionCode(code) }, fieldsWanted: fields, tags: tags,
                                   quantity: quantity, budgetFen: budget, deliveryModes: modes.compactMap(DeliveryMode.init(rawValue:)), expiresAt: expires)
        return (demand, demander, DemandState(rawValue: state) ?? .cancelled)
    }
}

extension MarketStore {
    /// Offers a newly listed product (or version) to the open demands it serves: each candidate demand
    /// (same sector, overlapping regions and delivery modes, not expired) gets a proposal when the product
    /// passes its hard rules and ranks within its top `limit`. Returns the proposals made.
    public func matchProduct(_ productID: UUID, limit: Int = 10, by actor: Actor = .system) async throws -> [UUID] {
        let product = try await self.product(productID)
        guard product.state == .listed else { return [] }
        let inForce = try await pool.query("""
            SELECT 1 FROM authorizations WHERE id = \(product.authorizationID) AND state = 'active' AND validity @> now()
            """).count > 0
        guard inForce else { return [] }
        let version = product.current
        let demands = try await pool.query("""
            SELECT d.id FROM demands d
            WHERE d.state IN ('open', 'matched') AND d.sector = \(version.sector) AND d.expires_at > now()
              AND d.regions && \(version.regions.map(\.value))
              AND d.delivery_modes && \(version.deliveryModes.map(\.rawValue))::pdx_delivery_mode[]
              AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.demand_id = d.id AND m.product_id = \(productID) AND m.state <> 'withdrawn')
            ORDER BY d.id
            LIMIT 5000
            """).decode(UUID.self)
        let rules = try await pricingRuleVersions()
        var proposed: [UUID] = []
        for demandID in demands {
            let (demand, demanderID, _) = try await pool.withConnection { try await $0.demandRequest(demandID) }
            let quote = try await pool.withConnection { connection in
                try await connection.quote(productID: productID, quantity: demand.quantity, purpose: demand.purpose, buyerID: demanderID,
                                           scenario: demand.scenario, rules: rules)
            }
            guard Matching.exclusions(demand: demand, product: version, quote: quote).isEmpty else { continue }
            let buyer = try await party(demanderID)
            let authorizations = try await pool.withConnection { try await $0.authorizationsInForce(of: demanderID) }
            guard (try? Policy.checkAntiMonopoly(buyer: buyer, buyerAuthorizations: authorizations, product: version, at: Date())) != nil else { continue }
            let score = Matching.score(demand: demand, product: version, quote: quote)
            let scores = try await pool.query("""
                SELECT score FROM matches WHERE demand_id = \(demandID) AND state = 'proposed' ORDER BY score DESC LIMIT \(Int32(limit))
                """).decode(Double.self)
            guard scores.count < limit || score.total > (scores.last ?? 0) else { continue }
            proposed.append(try await propose(NewMatch(demandID: demandID, productID: productID, productVersion: product.version,
                                                       score: score.total, reasonsJSON: try json(score.reasons), quote: quote), by: actor))
        }
        return proposed
    }
}
