public import Foundation
import JobQueue
public import Market
import Postgres
import MarketJobs

/// A product as stored: its identity, state and current version (the one on sale), and the version
/// announced to replace it when it can raise a price.
public struct StoredProduct: Sendable, Equatable {
    public var id: UUID
    public var operatorID: UUID
    public var authorizationID: UUID
    public var state: ProductState
    public var version: Int
    public var current: ProductVersion
    /// The announced version and when it takes effect (nil: none).
    public var announced: (version: ProductVersion, effectiveAt: Date)?
    /// Built by a re-developer from products it bought (`product_derivations`); its resources are theirs.
    public var derived = false

    public static func == (a: StoredProduct, b: StoredProduct) -> Bool {
        a.id == b.id && a.operatorID == b.operatorID && a.authorizationID == b.authorizationID && a.state == b.state && a.derived == b.derived
            && a.version == b.version && a.current == b.current
            && a.announced?.version == b.announced?.version && a.announced?.effectiveAt == b.announced?.effectiveAt
    }

    /// What buyers are told of the announced version: its number, time and price.
    public var announcement: AnnouncedVersion? {
        announced.map { AnnouncedVersion(version: version + 1, effectiveAt: $0.effectiveAt, listPriceFen: $0.version.listPriceFen,
                                         chargeUnit: $0.version.chargeUnit) }
    }
}

/// A product's version announced to take effect after the notice period (a revision that can raise a
/// price): what buyers see of it.
public struct AnnouncedVersion: Sendable, Hashable {
    public var version: Int
    public var effectiveAt: Date
    public var listPriceFen: Int64
    public var chargeUnit: ChargeUnit

    public init(version: Int, effectiveAt: Date, listPriceFen: Int64, chargeUnit: ChargeUnit) {
        self.version = version
        self.effectiveAt = effectiveAt
        self.listPriceFen = listPriceFen
        self.chargeUnit = chargeUnit
    }
}

/// What a revision of a listed or suspended product did.
public struct Revision: Sendable, Equatable {
    /// The new version's number.
    public var version: Int
    /// When it takes (or took) effect.
    public var effectiveAt: Date
    /// Whether it is on sale now; false: announced, waiting for the notice period (it can raise a price).
    public var applied: Bool
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
            let version = try await connection.checkPolicies(version, of: product)
            try await connection.deleteVersion(productID, product.version)
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
            _ = try await connection.checkPolicies(product.current, of: product)
            try await connection.checkCap(product.current, productID: productID, operatorID: product.operatorID)
            try await connection.execute("""
                UPDATE product_versions SET frozen = true WHERE product_id = \(productID) AND version = \(Int32(product.version)) AND NOT frozen
                """)
            try await connection.moveProduct(product, to: .listed, reason: nil, actor: actor)
            try await connection.enqueue(NewJob(MatchProductJob(productID: productID, version: product.version), queue: matchQueue))
        }
    }

    /// Publishes a change to a listed or suspended product as a new version (the old one stays as it
    /// was, for the orders placed on it). A change that can raise what a buyer pays (a higher list
    /// price, another charge unit, leaving a rule that lowers prices) is announced: it takes effect after
    /// the notice period (`applyPendingVersion`, run by a job then), while the current version stays on
    /// sale; any other change takes effect at once, requoting the proposals of the old version (or
    /// withdrawing those it no longer fits) in the same transaction. A later revision replaces an
    /// announced one; it keeps the announced time when it raises nothing against it.
    @discardableResult
    public func revise(_ productID: UUID, with version: ProductVersion, by actor: Actor) async throws -> Revision {
        try version.validate()
        return try await transaction { connection in
            let product = try await connection.product(productID, lock: true)
            guard product.state == .listed || product.state == .suspended else {
                throw TransitionRefused(subject: "product", from: product.state.rawValue, to: "revised",
                                        allowed: product.state == .draft ? ["edited in place while a draft"] : [])
            }
            let version = try await connection.checkPolicies(version, of: product)
            try await connection.checkCap(version, productID: productID, operatorID: product.operatorID)
            let now = try await connection.now()
            let rules = try await connection.allRuleVersions()
            let next = product.version + 1
            if product.announced != nil { try await connection.deleteVersion(productID, next) }
            try await connection.insertVersion(version, product: productID, number: next, frozen: false)
            let raises = version.raisesPrices(comparedTo: product.current, productID: productID, operatorID: product.operatorID, rules: rules, at: now)
            guard raises else {
                try await connection.makeCurrent(product, version: next, content: version, actor: actor, reason: nil)
                return Revision(version: next, effectiveAt: now, applied: true)
            }
            let notice = try await connection.priceNoticePeriod()
            var effective = now + notice
            if let announced = product.announced,
               !version.raisesPrices(comparedTo: announced.version, productID: productID, operatorID: product.operatorID, rules: rules, at: now) {
                effective = min(effective, announced.effectiveAt)
            }
            try await connection.execute("UPDATE products SET pending_effective_at = \(effective) WHERE id = \(productID)")
            try await connection.audit(actor, "product.announce", "product", productID,
                                       before: #"{"version":\#(product.version),"list_price_fen":\#(product.current.listPriceFen)}"#,
                                       after: #"{"version":\#(next),"list_price_fen":\#(version.listPriceFen),"effective_at":"\#(iso8601(effective))"}"#)
            // One job per product and time: a job that finds its announcement replaced by a later one snoozes
            // until then, one whose announcement was applied or withdrawn does nothing.
            try await connection.enqueue(NewJob(ApplyProductVersionJob(productID: productID), runAt: effective,
                                                uniqueKey: "apply_product_version:\(productID.lowercased):\(Int(effective.timeIntervalSince1970))"))
            return Revision(version: next, effectiveAt: effective, applied: false)
        }
    }

    /// What making an announced version current did.
    public enum PendingVersionOutcome: Sendable, Equatable {
        case applied(version: Int)
        /// Announced for later (a later revision moved it): try again then.
        case notDue(until: Date)
        /// No version is announced (any more), or the product was delisted.
        case nothingToDo
    }

    /// Makes a product's announced version current once its time has come: frozen, on sale, its
    /// proposals requoted (or withdrawn where it no longer fits), matched again if listed.
    public func applyPendingVersion(of productID: UUID, by actor: Actor = .system) async throws -> PendingVersionOutcome {
        try await transaction { connection in
            let product = try await connection.product(productID, lock: true)
            guard let announced = product.announced else { return .nothingToDo }
            guard product.state == .listed || product.state == .suspended else {
                try await connection.execute("UPDATE products SET pending_effective_at = NULL WHERE id = \(productID)")
                return .nothingToDo
            }
            guard announced.effectiveAt <= (try await connection.now()) else { return .notDue(until: announced.effectiveAt) }
            try await connection.makeCurrent(product, version: product.version + 1, content: announced.version, actor: actor,
                                             reason: "announced version takes effect after its notice period")
            return .applied(version: product.version + 1)
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
            _ = try await connection.withdrawMatches(ofProducts: [productID], reason: "product \(next.rawValue)", actor: actor)
            if next == .delisted, product.announced != nil {
                // A delisted product sells no version: what was announced will never take effect.
                try await connection.execute("UPDATE products SET pending_effective_at = NULL WHERE id = \(productID)")
            }
        }
    }

    public func product(_ id: UUID) async throws -> StoredProduct {
        try await read { connection in try await connection.product(id, lock: false) }
    }
}

extension PostgresConnection {
    /// A product; with `lock`, locked for update after its authorization is locked for share (the
    /// market's lock order: authorizations, products, demands, matches).
    func product(_ id: UUID, lock: Bool) async throws -> StoredProduct {
        if lock {
            _ = try await query("SELECT 1 FROM authorizations WHERE id = (SELECT authorization_id FROM products WHERE id = \(id)) FOR SHARE")
        }
        let rows = try await query("""
            SELECT operator_id, authorization_id, state::text, version, pending_effective_at,
                   EXISTS (SELECT 1 FROM product_derivations d WHERE d.product_id = products.id)
            FROM products WHERE id = \(id)
            \(unsafeRaw: lock ? "FOR UPDATE" : "")
            """)
        guard let row = rows.first else { throw MarketNotFound("product", id) }
        let (operatorID, authorizationID, state, version, pending, derived) = try row.decode(UUID.self, UUID.self, String.self, Int32.self, Date?.self, Bool.self)
        var product = StoredProduct(id: id, operatorID: operatorID, authorizationID: authorizationID, state: try Rows.known(state, ProductState.self, "products.state"),
                                    version: Int(version), current: try await productVersion(id, Int(version)))
        product.derived = derived
        if let pending { product.announced = (try await productVersion(id, Int(version) + 1), pending) }
        return product
    }

    /// Makes `version` (already inserted, with `content`) the one on sale: frozen and current, nothing
    /// announced any more; the old version's proposals requoted or withdrawn; matched again if listed.
    func makeCurrent(_ product: StoredProduct, version: Int, content: ProductVersion, actor: Actor, reason: String?) async throws {
        try await execute("UPDATE product_versions SET frozen = true WHERE product_id = \(product.id) AND version = \(Int32(version)) AND NOT frozen")
        try await execute("UPDATE products SET version = \(Int32(version)), pending_effective_at = NULL WHERE id = \(product.id)")
        try await audit(actor, "product.revise", "product", product.id, reason: reason,
                        before: #"{"version":\#(product.version)}"#, after: #"{"version":\#(version)}"#)
        try await requoteProposals(of: product.id, operatorID: product.operatorID, version: version, content: content, actor: actor)
        if product.state == .listed {
            try await enqueue(NewJob(MatchProductJob(productID: product.id, version: version), queue: matchQueue))
        }
    }

    /// Deletes a version that was never frozen (a replaced announcement), with its sources.
    func deleteVersion(_ id: UUID, _ version: Int) async throws {
        try await execute("DELETE FROM product_version_sources WHERE product_id = \(id) AND version = \(Int32(version))")
        try await execute("DELETE FROM product_versions WHERE product_id = \(id) AND version = \(Int32(version))")
    }

    /// The database's clock (the one every `now()` of the transaction reads).
    func now() async throws -> Date {
        try await query("SELECT now()").scalar(Date.self) ?? Date()
    }

    func productVersion(_ id: UUID, _ version: Int) async throws -> ProductVersion {
        let rows = try await query("""
            SELECT \(unsafeRaw: Rows.versionColumns("v")),
                   ARRAY(SELECT s.resource_id FROM product_version_sources s
                         WHERE s.product_id = v.product_id AND s.version = v.version ORDER BY s.resource_id)
            FROM product_versions v WHERE v.product_id = \(id) AND v.version = \(Int32(version))
            """)
        guard let row = rows.first else { throw MarketNotFound("product version", id) }
        return try Rows.version(row, from: 0, sources: try row.decode([UUID].self, at: Rows.versionColumnCount))
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

    /// Rules 1 and 3 for a version of a stored product (see `checkDerivedPolicies` for a derived one);
    /// returns the version as it is to be stored (a derived product's carries its sources' resources).
    func checkPolicies(_ version: ProductVersion, of product: StoredProduct) async throws -> ProductVersion {
        if product.derived { return try await checkDerivedPolicies(version, product: product.id) }
        try await checkPolicies(version, operatorID: product.operatorID, authorizationID: product.authorizationID)
        return version
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
