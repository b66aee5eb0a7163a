public import Foundation
public import Market
import Postgres

/// A product in another's lineage: what it is, who sells it, and its state.
public struct LineageEntry: Sendable, Equatable {
    public var id: UUID
    public var version: Int
    public var title: String
    public var sellerID: UUID
    public var sellerName: String
    public var state: ProductState
}

/// Where a product comes from and what was built on it.
public struct Lineage: Sendable, Equatable {
    /// The product versions a derived product was built from (empty for an operator's own product).
    public var sources: [LineageEntry]
    /// The derived products built on any version of it, by any re-developer (drafts excepted).
    public var derived: [LineageEntry]
}

extension MarketStore {
    /// The most orders a derived product cites.
    public static let maximumDerivationSources = 20

    /// Registers a party as a re-developer (rule 4's second half: other market entities are encouraged to
    /// re-develop and combine products). It must be an active demander or operator holding at least one
    /// completed order. Registering again changes nothing. Returns since when it is one.
    public func registerRedeveloper(_ partyID: UUID, by actor: Actor) async throws -> Date {
        try await transaction { connection in
            let rows = try await connection.query("""
                SELECT kind::text, state::text, redeveloper_since,
                       EXISTS (SELECT 1 FROM orders WHERE buyer_id = \(partyID) AND state = 'completed')
                FROM parties WHERE id = \(partyID) FOR NO KEY UPDATE
                """)
            guard let row = rows.first else { throw MarketNotFound("party", partyID) }
            let (kind, state, since, completed) = try row.decode(String.self, String.self, Date?.self, Bool.self)
            guard kind != PartyKind.agency.rawValue else { throw MarketForbidden("agencies do not re-develop products") }
            guard state == PartyState.active.rawValue else { throw PartyNotActive(description: "the \(kind) \(partyID.lowercased) is \(state)") }
            if let since { return since }
            guard completed else {
                throw PolicyViolation(.derivation, "a re-developer builds on what it bought: complete an order first")
            }
            let now = try await connection.query("""
                UPDATE parties SET redeveloper_since = now() WHERE id = \(partyID) RETURNING redeveloper_since
                """).scalar(Date.self) ?? Date()
            try await connection.audit(actor, "party.register_redeveloper", "party", partyID, after: #"{"redeveloper":true}"#)
            return now
        }
    }

    /// Since when a party is a registered re-developer (nil: it is not).
    public func redeveloperSince(_ partyID: UUID) async throws -> Date? {
        try await query("SELECT redeveloper_since FROM parties WHERE id = \(partyID)").scalar(Date?.self) ?? nil
    }

    /// Creates a draft derived product: sold by `seller` (a registered re-developer), built from the
    /// product versions of its completed orders `sourceOrders`. Its resources are its sources' (so rule 3
    /// follows the lineage: no core data, important data only in a sandbox, personal information only
    /// de-identified), it rests on the authorization behind its first source (in force now; revoking any
    /// grant behind its lineage delists it), and the database refuses a source inside the seller's own
    /// authorized scope or that of a party affiliated with it (rule 4). `version.sourceResourceIDs` is
    /// ignored. It is listed, revised and delisted like any product.
    public func createDerivedProduct(_ version: ProductVersion, seller sellerID: UUID, sourceOrders: [UUID],
                                     by actor: Actor) async throws -> StoredProduct {
        guard (1...Self.maximumDerivationSources).contains(sourceOrders.count), Set(sourceOrders).count == sourceOrders.count else {
            throw MarketInputError(field: "source_order_ids", rule: "must name 1 to \(Self.maximumDerivationSources) orders, each once")
        }
        let id = UUID()
        return try await transaction { connection in
            let seller = try await connection.query("""
                SELECT kind::text, redeveloper_since IS NOT NULL FROM parties WHERE id = \(sellerID)
                """).first?.decode(String.self, Bool.self)
            guard let (kind, registered) = seller, kind != PartyKind.agency.rawValue else {
                throw MarketForbidden("only demanders and operators re-develop products")
            }
            guard registered else {
                throw PolicyViolation(.derivation, "register as a re-developer first (POST /v1/redevelopers)")
            }
            // The orders, in the order given, each the seller's (another's does not exist for it) and completed.
            let rows = try await connection.query("""
                SELECT o.id, o.product_id, o.product_version, o.state::text, p.authorization_id
                FROM unnest(\(sourceOrders)::uuid[]) WITH ORDINALITY AS s(id, i)
                JOIN orders o ON o.id = s.id AND o.buyer_id = \(sellerID)
                JOIN products p ON p.id = o.product_id
                ORDER BY s.i
                FOR SHARE OF o
                """)
            var sources: [(order: UUID, product: UUID, version: Int32)] = []
            var grant: UUID?
            for row in rows {
                let (order, product, version, state, authorization) = try row.decode(UUID.self, UUID.self, Int32.self, String.self, UUID.self)
                guard state == OrderState.completed.rawValue else {
                    throw PolicyViolation(.derivation, "order \(order.lowercased) is \(state): only a completed order can be re-developed")
                }
                sources.append((order, product, version))
                grant = grant ?? authorization
            }
            if let missing = sourceOrders.first(where: { order in !sources.contains { $0.order == order } }) { throw MarketNotFound("order", missing) }
            guard let grant else { throw MarketNotFound("order", sourceOrders[0]) }
            let content = try await connection.derivedContent(version, sources: sources.map { ($0.product, $0.version) })
            try await connection.execute("""
                INSERT INTO products (id, operator_id, operator_kind, authorization_id)
                VALUES (\(id), \(sellerID), \(kind)::pdx_party_kind, \(grant))
                """)
            try await connection.insertVersion(content, product: id, number: 1, frozen: false)
            try await connection.execute("""
                INSERT INTO product_derivations (product_id, source_order_id, source_product, source_version)
                SELECT \(id), o, p, v FROM unnest(\(sources.map(\.order)), \(sources.map(\.product)), \(sources.map(\.version))) AS s(o, p, v)
                """)
            try await connection.audit(actor, "product.create", "product", id,
                                       after: #"{"state":"draft","derived_from":[\#(sources.map { "\"\($0.order.lowercased)\"" }.joined(separator: ","))]}"#)
            var product = StoredProduct(id: id, operatorID: sellerID, authorizationID: grant, state: .draft, version: 1, current: content)
            product.derived = true
            return product
        }
    }

    /// A product's lineage: the versions it was built from, and the products built on it.
    public func lineage(of productID: UUID) async throws -> Lineage {
        try await read { connection in
            guard try await connection.query("SELECT 1 FROM products WHERE id = \(productID)").first != nil else {
                throw MarketNotFound("product", productID)
            }
            let sources = try await connection.query("""
                SELECT p.id, v.version, v.title, s.id, s.name, p.state::text
                FROM product_derivations d
                JOIN products p ON p.id = d.source_product
                JOIN product_versions v ON v.product_id = d.source_product AND v.version = d.source_version
                JOIN parties s ON s.id = p.operator_id
                WHERE d.product_id = \(productID)
                ORDER BY p.id, v.version
                """).map(Self.lineageProduct)
            let derived = try await connection.query("""
                SELECT DISTINCT p.id, p.version, v.title, s.id, s.name, p.state::text
                FROM product_derivations d
                JOIN products p ON p.id = d.product_id AND p.state <> 'draft'
                JOIN product_versions v ON v.product_id = p.id AND v.version = p.version
                JOIN parties s ON s.id = p.operator_id
                WHERE d.source_product = \(productID)
                ORDER BY p.id
                """).map(Self.lineageProduct)
            return Lineage(sources: sources, derived: derived)
        }
    }

    static func lineageProduct(_ row: PostgresRow) throws -> LineageEntry {
        let (id, version, title, seller, name, state) = try row.decode(UUID.self, Int32.self, String.self, UUID.self, String.self, String.self)
        return LineageEntry(id: id, version: Int(version), title: title, sellerID: seller, sellerName: name,
                              state: try Rows.known(state, ProductState.self, "products.state"))
    }
}

extension PostgresConnection {
    /// Rules 1 and 3 for a version of a derived product, against the sources it was created from (see
    /// `derivedContent`).
    func checkDerivedPolicies(_ version: ProductVersion, product: UUID) async throws -> ProductVersion {
        let sources = try await query("""
            SELECT source_product, source_version FROM product_derivations WHERE product_id = \(product) ORDER BY source_order_id
            """).decode(UUID.self, Int32.self)
        return try await derivedContent(version, sources: sources)
    }

    /// `version` carrying the resources of the product versions `sources` (sorted, each once), checked:
    /// every authorization behind the sources' lineage in force (locked for share, in id order, so that a
    /// suspension or revocation in flight is waited for and then sees the derived product), the version
    /// within its sources (one of their sectors, regions within theirs, scenarios among theirs), and rule 3
    /// against the carried resources. The database checks the same at commit.
    func derivedContent(_ version: ProductVersion, sources: [(UUID, Int32)]) async throws -> ProductVersion {
        // (The first source's authorization, which the product's row names, is among its lineage's.)
        if let lapsed = try await lapsedLineageGrant(of: sources.map(\.0)) {
            throw PolicyViolation(.scope, "authorization \(lapsed.id.lowercased) behind the product's sources is \(lapsed.why), not in force")
        }
        let rows = try await query("""
            SELECT v.sector, v.regions, v.scenarios FROM unnest(\(sources.map(\.0)), \(sources.map(\.1))) AS d(product, version)
            JOIN product_versions v ON v.product_id = d.product AND v.version = d.version
            """).decode(String.self, [String].self, [String].self)
        let within = rows.filter { $0.0 == version.sector }
        guard !within.isEmpty else {
            throw PolicyViolation(.scope, "a derived product stays within its sources: sector \(version.sector) is none of theirs (\(Set(rows.map(\.0)).sorted().joined(separator: ", ")))")
        }
        let regions = try within.flatMap { try $0.1.map { try RegionCode($0) } }
        if let outside = version.regions.first(where: { region in !regions.contains { $0.covers(region) } }) {
            throw PolicyViolation(.scope, "a derived product stays within its sources: region \(outside.value) lies outside theirs (\(regions.map(\.value).joined(separator: ", ")))")
        }
        let scenarios = Set(rows.flatMap(\.2))
        if let other = version.scenarios.first(where: { !scenarios.contains($0) }) {
            throw PolicyViolation(.scope, "a derived product stays within its sources: scenario \(other) is none of theirs (\(scenarios.sorted().joined(separator: ", ")))")
        }
        let resources = try await query("""
            SELECT DISTINCT s.resource_id FROM product_version_sources s
            JOIN unnest(\(sources.map(\.0)), \(sources.map(\.1))) AS d(product, version) ON s.product_id = d.product AND s.version = d.version
            ORDER BY 1
            """).decode(UUID.self)
        var content = version
        content.sourceResourceIDs = resources
        try content.validate()
        try Policy.checkGrading(of: content, sources: try await resourcesForShare(resources))
        return content
    }

    /// Locks for share, in id order, every authorization `products` rest on (theirs and their lineages'), so
    /// that a suspension or revocation in flight is waited for and then sees what this transaction does; returns
    /// the first not in force, and why, if any.
    func lapsedLineageGrant(of products: [UUID]) async throws -> (id: UUID, why: String)? {
        let grants = try await query("""
            SELECT id, state::text, validity @> now() FROM authorizations
            WHERE id IN (SELECT pdx_lineage_grants(p) FROM unnest(\(products)::uuid[]) AS p)
            ORDER BY id FOR SHARE
            """).decode(UUID.self, String.self, Bool.self)
        return grants.first { $0.1 != AuthorizationState.active.rawValue || !$0.2 }.map { ($0.0, $0.2 ? $0.1 : "outside its term") }
    }
}
