public import Foundation
import JobQueue
public import Market
import Postgres

/// A product as stored: its identity, state and current version.
public struct StoredProduct: Sendable, Equatable {
    public var id: UUID
    public var operatorID: UUID
    public var authorizationID: UUID
    public var state: ProductState
    public var version: Int
    public var current: ProductVersion
}

extension MarketStore {
    /// Creates a draft product (version 1). Scope and grading are checked now, for early feedback, and
    /// again when it is listed.
    public func createProduct(_ version: ProductVersion, operator operatorID: UUID, authorization authorizationID: UUID,
                              by actor: Actor) async throws -> StoredProduct {
        try version.validate()
        let id = UUID()
        return try await transaction { connection in
            try await connection.checkPolicies(version, operatorID: operatorID, authorizationID: authorizationID)
            try await connection.execute("""
                INSERT INTO products (id, operator_id, authorization_id) VALUES (\(id), \(operatorID), \(authorizationID))
                """)
            try await connection.insertVersion(version, product: id, number: 1, frozen: false)
            try await connection.audit(actor, "product.create", "product", id, after: stateJSON("draft"))
            return StoredProduct(id: id, operatorID: operatorID, authorizationID: authorizationID, state: .draft, version: 1, current: version)
        }
    }

    /// Replaces the content of a draft. A product that has been listed changes only through `revise`.
    public func updateDraft(_ productID: UUID, with version: ProductVersion, by actor: Actor) async throws {
        try version.validate()
        try await transaction { connection in
            let product = try await connection.product(productID, lock: true)
            guard product.state == .draft else {
                throw TransitionRefused(subject: "product", from: product.state.rawValue, to: "edited in place", allowed: [])
            }
            try await connection.checkPolicies(version, operatorID: product.operatorID, authorizationID: product.authorizationID)
            try await connection.execute("DELETE FROM product_version_sources WHERE product_id = \(productID) AND version = \(Int32(product.version))")
            try await connection.execute("DELETE FROM product_versions WHERE product_id = \(productID) AND version = \(Int32(product.version))")
            try await connection.insertVersion(version, product: productID, number: product.version, frozen: false)
            try await connection.audit(actor, "product.update_draft", "product", productID)
        }
    }

    /// Lists a draft or suspended product after checking scope, grading and the price cap in force
    /// against the data as it is now (the authorization and resources are locked for the check). Its version is frozen, and a
    /// `match_product` job is enqueued in the same transaction.
    public func list(_ productID: UUID, by actor: Actor) async throws {
        try await transaction { connection in
            let product = try await connection.product(productID, lock: true)
            _ = try product.state.moving(to: .listed)
            try await connection.checkPolicies(product.current, operatorID: product.operatorID, authorizationID: product.authorizationID)
            try await connection.checkCap(product.current, productID: productID, operatorID: product.operatorID)
            try await connection.execute("""
                UPDATE product_versions SET frozen = true WHERE product_id = \(productID) AND version = \(Int32(product.version)) AND NOT frozen
                """)
            try await connection.moveProduct(product, to: .listed, reason: nil, actor: actor)
            try await connection.enqueue(NewJob(MatchProductJob(productID: productID, version: product.version), queue: matchQueue))
        }
    }

    /// Publishes a change to a listed or suspended product as a new version (the old one stays as it
    /// was, for the orders placed on it). A listed product's new version is matched again.
    @discardableResult
    public func revise(_ productID: UUID, with version: ProductVersion, by actor: Actor) async throws -> Int {
        try version.validate()
        return try await transaction { connection in
            let product = try await connection.product(productID, lock: true)
            guard product.state == .listed || product.state == .suspended else {
                throw TransitionRefused(subject: "product", from: product.state.rawValue, to: "revised",
                                        allowed: product.state == .draft ? ["edited in place while a draft"] : [])
            }
            try await connection.checkPolicies(version, operatorID: product.operatorID, authorizationID: product.authorizationID)
            try await connection.checkCap(version, productID: productID, operatorID: product.operatorID)
            let next = product.version + 1
            try await connection.insertVersion(version, product: productID, number: next, frozen: true)
            try await connection.execute("UPDATE products SET version = \(Int32(next)) WHERE id = \(productID)")
            try await connection.audit(actor, "product.revise", "product", productID,
                                       before: #"{"version":\#(product.version)}"#, after: #"{"version":\#(next)}"#)
            if product.state == .listed {
                try await connection.enqueue(NewJob(MatchProductJob(productID: productID, version: next), queue: matchQueue))
            }
            return next
        }
    }

    /// Suspends a listed product, or delists a product for good (withdrawing its proposed matches).
    public func changeProduct(_ productID: UUID, to next: ProductState, reason: String?, by actor: Actor) async throws {
        guard next == .suspended || next == .delisted else {
            throw MarketInputError(field: "state", rule: "must be suspended or delisted here; list a product with list()")
        }
        try await transaction { connection in
            let product = try await connection.product(productID, lock: true)
            _ = try product.state.moving(to: next)
            try await connection.moveProduct(product, to: next, reason: reason, actor: actor)
            if next == .delisted || next == .suspended {
                _ = try await connection.withdrawMatches(ofProducts: [productID], reason: "product \(next.rawValue)", actor: actor)
            }
        }
    }

    public func product(_ id: UUID) async throws -> StoredProduct {
        try await pool.withConnection { connection in try await connection.product(id, lock: false) }
    }
}

extension PostgresConnection {
    func product(_ id: UUID, lock: Bool) async throws -> StoredProduct {
        let rows = try await query("""
            SELECT operator_id, authorization_id, state::text, version FROM products WHERE id = \(id)
            \(unsafeRaw: lock ? "FOR UPDATE" : "")
            """)
        guard let row = rows.first else { throw MarketNotFound("product", id) }
        let (operatorID, authorizationID, state, version) = try row.decode(UUID.self, UUID.self, String.self, Int32.self)
        return StoredProduct(id: id, operatorID: operatorID, authorizationID: authorizationID, state: ProductState(rawValue: state) ?? .delisted,
                             version: Int(version), current: try await productVersion(id, Int(version)))
    }

    func productVersion(_ id: UUID, _ version: Int) async throws -> ProductVersion {
        let rows = try await query("""
            SELECT v.title, v.description, v.sector, v.regions, v.scenarios, v.tags, v.fields, v.delivery_modes::text[],
                   v.charge_unit::text, v.list_price_fen,
                   ARRAY(SELECT s.resource_id FROM product_version_sources s
                         WHERE s.product_id = v.product_id AND s.version = v.version ORDER BY s.resource_id)
            FROM product_versions v WHERE v.product_id = \(id) AND v.version = \(Int32(version))
            """)
        guard let row = rows.first else { throw MarketNotFound("product version", id) }
        let (title, description, sector, regions, scenarios, tags, fields, modes, unit, price, sources) = try row.decode(
            String.self, String.self, String.self, [String].self, [String].self, [String].self, [String].self, [String].self,
            String.self, Int64.self, [UUID].self)
        return ProductVersion(title: title, description: description, sector: sector,
                              regions: try regions.map { code throws(MarketInputError) in try RegionCode(code) },
                              scenarios: scenarios, tags: tags, fields: fields, deliveryModes: modes.compactMap(DeliveryMode.init(rawValue:)),
                              chargeUnit: ChargeUnit(rawValue: unit) ?? .item, listPriceFen: price, sourceResourceIDs: sources)
    }

    func insertVersion(_ version: ProductVersion, product: UUID, number: Int, frozen: Bool) async throws {
        // Sources go in before the version is frozen: the database refuses to touch a frozen version's sources.
        try await execute("""
            INSERT INTO product_versions (product_id, version, title, description, sector, regions, scenarios, tags, fields,
                                          delivery_modes, charge_unit, list_price_fen)
            VALUES (\(product), \(Int32(number)), \(version.title), \(version.description), \(version.sector),
                    \(version.regions.map(\.value)), \(version.scenarios), \(version.tags), \(version.fields),
                    \(version.deliveryModes.map(\.rawValue))::pdx_delivery_mode[], \(version.chargeUnit.rawValue)::pdx_charge_unit,
                    \(version.listPriceFen))
            """)
        try await execute("""
            INSERT INTO product_version_sources (product_id, version, resource_id)
            SELECT \(product), \(Int32(number)), r FROM unnest(\(version.sourceResourceIDs)) AS r
            """)
        if frozen {
            try await execute("UPDATE product_versions SET frozen = true WHERE product_id = \(product) AND version = \(Int32(number))")
        }
    }

    /// Rules 1 and 3 for a product version of an operator under an authorization, with the
    /// authorization and the source resources locked until the transaction ends.
    func checkPolicies(_ version: ProductVersion, operatorID: UUID, authorizationID: UUID) async throws {
        let rows = try await query("SELECT 1 FROM authorizations WHERE id = \(authorizationID) FOR SHARE")
        guard !rows.isEmpty, let authorization = try await authorization(authorizationID, lock: false) else {
            throw MarketInputError(field: "authorization_id", rule: "must name an existing authorization")
        }
        let sources = try await resourcesForShare(version.sourceResourceIDs)
        let now = try await query("SELECT now()").scalar(Date.self) ?? Date()
        try Policy.checkScope(of: version, operatorID: operatorID, authorization: authorization, sources: sources, at: now)
        try Policy.checkGrading(of: version, sources: sources)
    }

    func moveProduct(_ product: StoredProduct, to next: ProductState, reason: String?, actor: Actor) async throws {
        let moved = try await execute("""
            UPDATE products SET state = \(next.rawValue)::pdx_product_state, state_changed_at = now()
            WHERE id = \(product.id) AND state = \(product.state.rawValue)::pdx_product_state
            """)
        guard moved == 1 else { throw TransitionRefused(subject: "product", from: product.state.rawValue, to: next.rawValue, allowed: []) }
        let action = next == .listed ? "product.list" : "product.\(next == .suspended ? "suspend" : "delist")"
        try await audit(actor, action, "product", product.id, reason: reason,
                        before: stateJSON(product.state.rawValue), after: stateJSON(next.rawValue))
    }
}
