public import Foundation
public import Market
import Postgres

/// A party to register.
public struct NewParty: Sendable {
    public var kind: PartyKind
    /// The legal name (in Chinese).
    public var name: String
    public var nameEN: String?
    public var creditCode: String
    public var regionCode: String
    public var contact: Contact
    public var webhookURL: String?

    public init(kind: PartyKind, name: String, nameEN: String? = nil, creditCode: String, regionCode: String, contact: Contact = Contact(),
                webhookURL: String? = nil) {
        self.kind = kind
        self.name = name
        self.nameEN = nameEN
        self.creditCode = creditCode
        self.regionCode = regionCode
        self.contact = contact
        self.webhookURL = webhookURL
    }
}

/// A data resource to register.
public struct NewResource: Sendable {
    public var title: String
    public var description: String
    public var sector: String
    public var regionCode: String
    public var grade: ResourceGrade
    public var personalInformation: Bool

    public init(title: String, description: String = "", sector: String, regionCode: String, grade: ResourceGrade, personalInformation: Bool = false) {
        self.title = title
        self.description = description
        self.sector = sector
        self.regionCode = regionCode
        self.grade = grade
        self.personalInformation = personalInformation
    }
}

extension MarketStore {
    public func registerParty(_ new: NewParty, by actor: Actor) async throws -> Party {
        try await transaction { connection in try await connection.registerParty(new, actor: actor) }
    }

    /// Registered parties, of one kind or all, in one state or all, by kind and name.
    public func parties(kind: PartyKind? = nil, state: PartyState? = nil) async throws -> [Party] {
        let parties = try await query("""
            SELECT \(unsafeRaw: Rows.partyColumns("p")) FROM parties p
            WHERE (\(kind?.rawValue)::pdx_party_kind IS NULL OR p.kind = \(kind?.rawValue)::pdx_party_kind)
              AND (\(state?.rawValue)::pdx_party_state IS NULL OR p.state = \(state?.rawValue)::pdx_party_state)
            ORDER BY p.kind, p.name, p.id
            """).map { try Rows.party($0, from: 0) }
        return try await read { connection in try await connection.withVerifications(parties) }
    }

    public func party(_ id: UUID) async throws -> Party {
        guard let row = try await query("SELECT \(unsafeRaw: Rows.partyColumns("p")) FROM parties p WHERE p.id = \(id)").first else {
            throw MarketNotFound("party", id)
        }
        let party = try Rows.party(row, from: 0)
        return try await read { connection in try await connection.withVerifications(party) }
    }

    public func registerResource(_ new: NewResource, agency agencyID: UUID, by actor: Actor) async throws -> DataResource {
        try validateText(new.title, field: "title", maxLength: 200)
        try validateText(new.description, field: "description", maxLength: 10_000, required: false)
        let resource = DataResource(agencyID: agencyID, title: new.title, sector: new.sector, regionCode: try RegionCode(new.regionCode),
                                    grade: new.grade, personalInformation: new.personalInformation)
        return try await transaction { connection in
            try await connection.execute("""
                INSERT INTO data_resources (id, agency_id, title, description, sector, region_code, grade, personal_info)
                VALUES (\(resource.id), \(agencyID), \(resource.title), \(new.description), \(resource.sector), \(resource.regionCode.value),
                        \(resource.grade.rawValue)::pdx_resource_grade, \(resource.personalInformation))
                """)
            try await connection.audit(actor, "resource.register", "resource", resource.id,
                                       after: #"{"grade":"\#(resource.grade.rawValue)","sector":"\#(resource.sector)"}"#)
            return resource
        }
    }

    /// The resources an agency registered, in id order after `cursor`.
    public func resources(of agencyID: UUID, after cursor: UUID? = nil, limit: Int = 50) async throws -> [DataResource] {
        guard (1...200).contains(limit) else { throw MarketInputError(field: "limit", rule: "must be from 1 to 200") }
        return try await query("""
            SELECT \(unsafeRaw: Self.resourceColumns) FROM data_resources
            WHERE agency_id = \(agencyID) AND (\(cursor)::uuid IS NULL OR id > \(cursor)) ORDER BY id LIMIT \(Int32(limit))
            """).map(Self.resource)
    }

    /// One resource; nil if there is none.
    public func resource(_ id: UUID) async throws -> DataResource? {
        try await query("SELECT \(unsafeRaw: Self.resourceColumns) FROM data_resources WHERE id = \(id)").map(Self.resource).first
    }

    static let resourceColumns = "id, agency_id, title, sector, region_code, grade::text, personal_info, deidentified_at"

    static func resource(_ row: PostgresRow) throws -> DataResource {
        let (id, agency, title, sector, region, grade, personal, deidentified) = try row.decode(
            UUID.self, UUID.self, String.self, String.self, String.self, String.self, Bool.self, Date?.self)
        return DataResource(id: id, agencyID: agency, title: title, sector: sector, regionCode: try RegionCode(region),
                            grade: try Rows.known(grade, ResourceGrade.self, "data_resources.grade"), personalInformation: personal,
                            deidentifiedAt: deidentified)
    }

    /// Records the de-identification step a resource with personal information needs before any product uses it.
    public func recordDeidentification(of resourceID: UUID, method: String, performedBy: String, by actor: Actor) async throws {
        try validateText(method, field: "method", maxLength: 2000)
        try validateText(performedBy, field: "performed_by", maxLength: 200)
        try await transaction { connection in
            let updated = try await connection.execute("""
                UPDATE data_resources SET deidentified_method = \(method), deidentified_at = now(), deidentified_by = \(performedBy)
                WHERE id = \(resourceID)
                """)
            guard updated == 1 else { throw MarketNotFound("resource", resourceID) }
            try await connection.audit(actor, "resource.deidentify", "resource", resourceID, reason: method)
        }
    }

}

extension PostgresConnection {
    func registerParty(_ new: NewParty, actor: Actor) async throws -> Party {
        try validateText(new.name, field: "name", maxLength: 200)
        if let name = new.nameEN { try validateText(name, field: "name_en", maxLength: 200) }
        try new.contact.validate()
        let party = Party(kind: new.kind, name: new.name, nameEN: new.nameEN, creditCode: try CreditCode(new.creditCode),
                          regionCode: try RegionCode(new.regionCode))
        // An administrator registers the party; the URL's syntax is checked here, its address before each delivery.
        if let url = new.webhookURL { _ = try WebhookPolicy.host(of: url, field: "webhook_url", allowHTTP: true) }
        try await execute("""
            INSERT INTO parties (id, kind, name, name_en, credit_code, region_code, contact_name, contact_email, contact_phone, webhook_url)
            VALUES (\(party.id), \(party.kind.rawValue)::pdx_party_kind, \(party.name), \(party.nameEN), \(party.creditCode.value),
                    \(party.regionCode.value), \(new.contact.name), \(new.contact.email), \(new.contact.phone), \(new.webhookURL))
            """)
        try await audit(actor, "party.register", "party", party.id,
                        after: #"{"kind":"\#(party.kind.rawValue)","credit_code":"\#(party.creditCode.value)"}"#)
        return party
    }

    func resourcesForShare(_ ids: [UUID]) async throws -> [DataResource] {
        try await query("""
            SELECT \(unsafeRaw: MarketStore.resourceColumns) FROM data_resources WHERE id = ANY(\(ids)) FOR SHARE
            """).map(MarketStore.resource)
    }
}
