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

    /// Registers a data resource; with `deidentification`, its de-identification step is recorded at once.
    public func registerResource(_ new: NewResource, agency agencyID: UUID, deidentification: DeidentificationStep? = nil,
                                 by actor: Actor) async throws -> DataResource {
        try validateText(new.title, field: "title", maxLength: 200)
        try validateText(new.description, field: "description", maxLength: 10_000, required: false)
        let resource = DataResource(agencyID: agencyID, title: new.title, sector: new.sector, regionCode: try RegionCode(new.regionCode),
                                    grade: new.grade, personalInformation: new.personalInformation)
        return try await transaction { connection in
            var resource = resource
            try await connection.execute("""
                INSERT INTO data_resources (id, agency_id, title, description, sector, region_code, grade, personal_info)
                VALUES (\(resource.id), \(agencyID), \(resource.title), \(new.description), \(resource.sector), \(resource.regionCode.value),
                        \(resource.grade.rawValue)::pdx_resource_grade, \(resource.personalInformation))
                """)
            try await connection.audit(actor, "resource.register", "resource", resource.id,
                                       after: #"{"grade":"\#(resource.grade.rawValue)","sector":"\#(resource.sector)"}"#)
            if let deidentification {
                try await connection.recordDeidentification(deidentification, of: resource.id, agency: agencyID, actor: actor)
                resource.deidentifiedAt = deidentification.performedAt
                resource.deidentification = deidentification
            }
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

    static let resourceColumns = """
        id, agency_id, title, sector, region_code, grade::text, personal_info, deidentified_at, deidentified_method, deidentified_by,
        deidentified_evidence
        """

    static func resource(_ row: PostgresRow) throws -> DataResource {
        let (id, agency, title, sector, region, grade, personal, deidentified) = try row.decode(
            UUID.self, UUID.self, String.self, String.self, String.self, String.self, Bool.self, Date?.self, at: 0)
        let (method, by, evidence) = try row.decode(String?.self, String?.self, String?.self, at: 8)
        var resource = DataResource(id: id, agencyID: agency, title: title, sector: sector, regionCode: try RegionCode(region),
                                    grade: try Rows.known(grade, ResourceGrade.self, "data_resources.grade"), personalInformation: personal,
                                    deidentifiedAt: deidentified)
        if let deidentified, let method, let by {
            resource.deidentification = DeidentificationStep(method: method, performedBy: by, performedAt: deidentified, evidence: evidence)
        }
        return resource
    }

    /// Records the de-identification step a resource with personal information needs before any product
    /// uses it (rule 3), for the agency that registered it (another agency's resource does not exist for
    /// it; nil: an administrator). A later record replaces the earlier one; both stay in the audit trail.
    public func recordDeidentification(_ step: DeidentificationStep, of resourceID: UUID, agency agencyID: UUID? = nil,
                                       by actor: Actor) async throws -> DataResource {
        try await transaction { connection in
            try await connection.recordDeidentification(step, of: resourceID, agency: agencyID, actor: actor)
            guard let resource = try await connection.query("""
                SELECT \(unsafeRaw: Self.resourceColumns) FROM data_resources WHERE id = \(resourceID)
                """).map(Self.resource).first else { throw MarketNotFound("resource", resourceID) }
            return resource
        }
    }

    /// Records a de-identification performed now by `performedBy`.
    public func recordDeidentification(of resourceID: UUID, method: String, performedBy: String, by actor: Actor) async throws {
        let now = try await query("SELECT now()").scalar(Date.self) ?? Date()
        _ = try await recordDeidentification(DeidentificationStep(method: method, performedBy: performedBy, performedAt: now), of: resourceID, by: actor)
    }
}

extension PostgresConnection {
    func recordDeidentification(_ step: DeidentificationStep, of resourceID: UUID, agency agencyID: UUID?, actor: Actor) async throws {
        try step.validate(now: try await now())
        let before = try await query("""
            SELECT deidentified_method, deidentified_at FROM data_resources
            WHERE id = \(resourceID) AND (\(agencyID)::uuid IS NULL OR agency_id = \(agencyID)) FOR NO KEY UPDATE
            """).first?.decode(String?.self, Date?.self)
        guard let before else { throw MarketNotFound("resource", resourceID) }
        try await execute("""
            UPDATE data_resources SET deidentified_method = \(step.method), deidentified_at = \(step.performedAt),
                deidentified_by = \(step.performedBy), deidentified_evidence = \(step.evidence)
            WHERE id = \(resourceID)
            """)
        try await audit(actor, "resource.deidentify", "resource", resourceID, reason: step.method,
                        before: try before.0.map { try json(["method": $0, "deidentified_at": iso8601(before.1 ?? Date())]) },
                        after: try json(step))
    }

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
