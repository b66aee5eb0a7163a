public import Foundation
public import Market
import Postgres

/// A product as the public catalogue shows it: its current listed version (the catalogue does not hold
/// the version's source resources: `current.sourceResourceIDs` is empty).
public struct ListedProduct: Sendable, Hashable {
    public var id: UUID
    public var version: Int
    public var operatorID: UUID
    public var authorizationID: UUID
    public var current: ProductVersion
    /// A version announced to take effect after the notice period (a coming price rise), if any.
    public var announced: AnnouncedVersion?
}

/// A search of the catalogue: every filter given must hold. Pages are ordered by product id, so a cursor
/// (`after`, the last id of the previous page) stays stable while products are listed.
public struct CatalogueQuery: Sendable, Equatable {
    public var sector: String?
    /// A region the product serves: one of its regions lies within it or covers it, as in matching (a
    /// product for Shanghai serves a search for Pudong, and a search for Shanghai finds Pudong's products).
    public var region: RegionCode?
    public var scenario: String?
    public var deliveryMode: DeliveryMode?
    public var minPriceFen: Int64?
    public var maxPriceFen: Int64?
    /// Words of the title, description or tags, in any language; matched as a case-insensitive substring.
    public var text: String?
    public var after: UUID?
    public var limit: Int

    public static let maximumLimit = 200

    public init(sector: String? = nil, region: RegionCode? = nil, scenario: String? = nil, deliveryMode: DeliveryMode? = nil,
                minPriceFen: Int64? = nil, maxPriceFen: Int64? = nil, text: String? = nil, after: UUID? = nil, limit: Int = 50) {
        self.sector = sector
        self.region = region
        self.scenario = scenario
        self.deliveryMode = deliveryMode
        self.minPriceFen = minPriceFen
        self.maxPriceFen = maxPriceFen
        self.text = text
        self.after = after
        self.limit = limit
    }

    public func validate() throws(MarketInputError) {
        guard (1...Self.maximumLimit).contains(limit) else { throw MarketInputError(field: "limit", rule: "must be from 1 to \(Self.maximumLimit)") }
        if let minPriceFen, minPriceFen < 0 { throw MarketInputError(field: "min_price_fen", rule: "must not be negative") }
        if let maxPriceFen, maxPriceFen < 0 { throw MarketInputError(field: "max_price_fen", rule: "must not be negative") }
        if let minPriceFen, let maxPriceFen, minPriceFen > maxPriceFen {
            throw MarketInputError(field: "min_price_fen", rule: "must not exceed max_price_fen")
        }
        for (field, value) in [("sector", sector), ("scenario", scenario), ("q", text)] {
            guard let value else { continue }
            guard !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, value.unicodeScalars.count <= 200 else {
                throw MarketInputError(field: field, rule: "must be 1 to 200 characters")
            }
            guard !value.utf8.contains(0) else { throw MarketInputError.nulCharacter(field) }
        }
    }
}

extension MarketStore {
    /// A listed product, or nil if there is none with this id in the catalogue (a draft, a suspended or
    /// delisted product, or no product at all). One indexed read.
    public func listedProduct(_ id: UUID) async throws -> ListedProduct? {
        try await query("SELECT \(unsafeRaw: Self.catalogueColumns) FROM catalogue c WHERE c.product_id = \(id)").map(Self.listedProduct).first
    }

    /// The listed products that pass every filter of `query`, in id order after its cursor.
    public func searchCatalogue(_ query: CatalogueQuery) async throws -> [ListedProduct] {
        try query.validate()
        // LIKE's own characters in the words are matched literally.
        let pattern = query.text.map { text in
            "%" + text.trimmingCharacters(in: .whitespacesAndNewlines)
                .replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
        }
        return try await self.query("""
            SELECT \(unsafeRaw: Self.catalogueColumns) FROM catalogue c
            WHERE (\(query.sector)::text IS NULL OR sector = \(query.sector))
              AND (\(query.region?.value)::text IS NULL OR pdx_regions_overlap(regions, ARRAY[\(query.region?.value)::text]))
              AND (\(query.scenario)::text IS NULL OR \(query.scenario) = ANY(scenarios))
              AND (\(query.deliveryMode?.rawValue)::text IS NULL OR \(query.deliveryMode?.rawValue)::pdx_delivery_mode = ANY(delivery_modes))
              AND (\(query.minPriceFen)::bigint IS NULL OR list_price_fen >= \(query.minPriceFen))
              AND (\(query.maxPriceFen)::bigint IS NULL OR list_price_fen <= \(query.maxPriceFen))
              AND (\(pattern)::text IS NULL OR pdx_catalogue_text(title, description, tags) ILIKE \(pattern))
              AND (\(query.after)::uuid IS NULL OR product_id > \(query.after))
            ORDER BY product_id
            LIMIT \(Int32(query.limit))
            """).map(Self.listedProduct)
    }

    static let catalogueColumns = """
        c.product_id, c.version, c.operator_id, c.authorization_id, \(Rows.versionColumns("c")),
        c.pending_version, c.pending_effective_at, c.pending_list_price_fen, c.pending_charge_unit::text
        """

    static func listedProduct(_ row: PostgresRow) throws -> ListedProduct {
        let (id, version, operatorID, authorizationID) = try row.decode(UUID.self, Int32.self, UUID.self, UUID.self, at: 0)
        let (pendingVersion, pendingAt, pendingPrice, pendingUnit) = try row.decode(Int32?.self, Date?.self, Int64?.self, String?.self,
                                                                                     at: 4 + Rows.versionColumnCount)
        var announced: AnnouncedVersion?
        if let pendingVersion, let pendingAt, let pendingPrice, let pendingUnit {
            announced = AnnouncedVersion(version: Int(pendingVersion), effectiveAt: pendingAt, listPriceFen: pendingPrice,
                                         chargeUnit: try Rows.known(pendingUnit, ChargeUnit.self, "catalogue.pending_charge_unit"))
        }
        return ListedProduct(id: id, version: Int(version), operatorID: operatorID, authorizationID: authorizationID,
                             current: try Rows.version(row, from: 4, sources: []), announced: announced)
    }
}
