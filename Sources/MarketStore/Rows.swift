import Foundation
import Market
import Postgres

/// The market's row shapes, each mapped from SQL in one place: the columns to select (under a table alias)
/// and the decoding of a row from a given column on. A value this version of pdx does not know (an enum
/// value, a code) is an error, never a silent default.
enum Rows {
    /// `kind`, `name`, `credit_code`, `region_code`, `name_en`, `state` of `parties` (after its id). A party read
    /// this way has no verifications: those who price for it add them (`withVerifications`), in one query
    /// however many parties, and the reads that do not price (authentication, lists of demands) skip them.
    static func partyColumns(_ alias: String) -> String {
        "\(alias).id, \(alias).kind::text, \(alias).name, \(alias).credit_code, \(alias).region_code, \(alias).name_en, \(alias).state::text"
    }

    static let partyColumnCount = 7

    static func party(_ row: PostgresRow, from start: Int) throws -> Party {
        let (id, kind, name, code, region, nameEN, state) = try row.decode(
            UUID.self, String.self, String.self, String.self, String.self, String?.self, String.self, at: start)
        return Party(id: id, kind: try known(kind, PartyKind.self, "parties.kind"), name: name, nameEN: nameEN, creditCode: try CreditCode(code),
                     regionCode: try RegionCode(region), state: try known(state, PartyState.self, "parties.state"))
    }

    /// The approval of a public-interest demand's purpose (under `alias`): the latest review, when it approved,
    /// as `[review id, agency id]`; null otherwise, and not looked for on other demands.
    static func purposeApprovalColumn(_ alias: String) -> String {
        """
        CASE WHEN \(alias).purpose IN ('public_governance', 'public_welfare') THEN
            (SELECT CASE WHEN r.approved THEN ARRAY[r.id, r.agency_id] END FROM demand_purpose_reviews r WHERE r.demand_id = \(alias).id
             ORDER BY r.at DESC, r.id DESC LIMIT 1) END
        """
    }

    static func purposeApproval(_ row: PostgresRow, at column: Int) throws -> PurposeApproval? {
        try row.decode([UUID]?.self, at: column).map { PurposeApproval(id: $0[0], agencyID: $0[1]) }
    }

    /// What a product version offers, as `product_versions` and `catalogue` both hold it (sources apart).
    static func versionColumns(_ alias: String) -> String {
        ["title", "description", "sector", "regions", "scenarios", "tags", "fields", "delivery_modes::text[]", "charge_unit::text", "list_price_fen"]
            .map { "\(alias).\($0)" }.joined(separator: ", ")
    }

    static let versionColumnCount = 10

    static func version(_ row: PostgresRow, from start: Int, sources: [UUID]) throws -> ProductVersion {
        let (title, description, sector, regions, scenarios, tags, fields, modes, unit, price) = try row.decode(
            String.self, String.self, String.self, [String].self, [String].self, [String].self, [String].self, [String].self, String.self, Int64.self,
            at: start)
        return ProductVersion(title: title, description: description, sector: sector, regions: try regionCodes(regions),
                              scenarios: scenarios, tags: tags, fields: fields,
                              deliveryModes: try modes.map { try known($0, DeliveryMode.self, "delivery_modes") },
                              chargeUnit: try known(unit, ChargeUnit.self, "charge_unit"), listPriceFen: price, sourceResourceIDs: sources)
    }

    /// The value of a text column read back into its enum; an unknown value is an error naming the column.
    static func known<T: RawRepresentable>(_ raw: String, _ type: T.Type, _ column: String) throws -> T where T.RawValue == String {
        guard let value = T(rawValue: raw) else {
            throw PostgresError(kind: .protocolViolation, message: "\(column) holds '\(raw)', which this version of pdx does not know")
        }
        return value
    }

    static func regionCodes(_ codes: [String]) throws -> [RegionCode] {
        try codes.map { code throws(MarketInputError) in try RegionCode(code) }
    }
}

extension PostgresConnection {
    /// The parties with their verifications in force now (not revoked, not expired), in one query.
    func withVerifications(_ parties: [Party]) async throws -> [Party] {
        guard !parties.isEmpty else { return parties }
        var found: [UUID: [Verification]] = [:]
        for (party, id, partyClass, evidence, expires) in try await query("""
            SELECT party_id, id, class::text, evidence, expires_at FROM party_verifications
            WHERE party_id = ANY(\(Array(Set(parties.map(\.id))))) AND revoked_at IS NULL AND expires_at > now()
            ORDER BY expires_at, id
            """).decode(UUID.self, UUID.self, String.self, String.self, Date.self) {
            found[party, default: []].append(Verification(id: id, partyClass: try Rows.known(partyClass, PartyClass.self, "party_verifications.class"),
                                                          evidence: evidence, expiresAt: expires))
        }
        return parties.map { party in
            var party = party
            party.verifications = found[party.id] ?? []
            return party
        }
    }

    func withVerifications(_ party: Party) async throws -> Party { try await withVerifications([party])[0] }
}
