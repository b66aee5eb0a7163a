import Foundation
import Market
import Postgres

/// The market's row shapes, each mapped from SQL in one place: the columns to select (under a table alias)
/// and the decoding of a row from a given column on. A value this version of pdx does not know (an enum
/// value, a code) is an error, never a silent default.
enum Rows {
    /// `kind`, `name`, `credit_code`, `region_code`, `name_en`, `state` of `parties` (after its id), and its
    /// verifications in force now.
    static func partyColumns(_ alias: String) -> String {
        """
        \(alias).id, \(alias).kind::text, \(alias).name, \(alias).credit_code, \(alias).region_code, \(alias).name_en, \(alias).state::text,
        (SELECT coalesce(jsonb_agg(jsonb_build_object('id', v.id, 'class', v.class, 'evidence', v.evidence,
                                                      'expires', extract(epoch FROM v.expires_at)) ORDER BY v.expires_at, v.id), '[]')
         FROM party_verifications v WHERE v.party_id = \(alias).id AND v.revoked_at IS NULL AND v.expires_at > now())
        """
    }

    static let partyColumnCount = 8

    /// A verification as `partyColumns` reads it (the expiry in seconds since 1970).
    private struct VerificationRow: Codable {
        var id: UUID
        var `class`: String
        var evidence: String
        var expires: Double
    }

    static func party(_ row: PostgresRow, from start: Int) throws -> Party {
        let (id, kind, name, code, region, nameEN, state, verifications) = try row.decode(
            UUID.self, String.self, String.self, String.self, String.self, String?.self, String.self, JSONB<[VerificationRow]>.self, at: start)
        return Party(id: id, kind: try known(kind, PartyKind.self, "parties.kind"), name: name, nameEN: nameEN, creditCode: try CreditCode(code),
                     regionCode: try RegionCode(region), state: try known(state, PartyState.self, "parties.state"),
                     verifications: try verifications.value.map { row in
                         Verification(id: row.id, partyClass: try known(row.class, PartyClass.self, "party_verifications.class"), evidence: row.evidence,
                                      expiresAt: Date(timeIntervalSince1970: row.expires))
                     })
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
