public import Foundation
public import Market
import Postgres

public enum ApplicationState: String, Sendable, Codable, CaseIterable {
    case pending, approved, rejected, claimed
}

/// A market entity's application to join, as sent (without a key).
public struct NewApplication: Sendable {
    public var kind: PartyKind
    public var name: String
    public var nameEN: String?
    public var creditCode: String
    public var regionCode: String
    /// A name and an email are required: the administrator reaches the applicant there.
    public var contact: Contact
    /// The classes it claims (verified, or not, by the administrator who approves it).
    public var classes: [PartyClass]
    /// The scenarios it is interested in.
    public var scenarios: [String]
    /// Where it came from (the client address), for the administrator.
    public var submittedFrom: String?

    public init(kind: PartyKind, name: String, nameEN: String? = nil, creditCode: String, regionCode: String, contact: Contact,
                classes: [PartyClass] = [], scenarios: [String] = [], submittedFrom: String? = nil) {
        self.kind = kind
        self.name = name
        self.nameEN = nameEN
        self.creditCode = creditCode
        self.regionCode = regionCode
        self.contact = contact
        self.classes = classes
        self.scenarios = scenarios
        self.submittedFrom = submittedFrom
    }
}

public struct Application: Sendable, Equatable {
    public var id: UUID
    public var kind: PartyKind
    public var name: String
    public var nameEN: String?
    public var creditCode: String
    public var regionCode: String
    public var contact: Contact
    public var classes: [PartyClass]
    public var scenarios: [String]
    public var state: ApplicationState
    /// The party made when it was approved.
    public var partyID: UUID?
    public var decidedBy: String?
    public var decidedAt: Date?
    public var decisionReason: String?
    public var claimedAt: Date?
    public var submittedFrom: String?
    public var createdAt: Date
}

/// Why an application's claim secret cannot be exchanged for a key (the API answers 409 with `code`).
public struct ApplicationNotClaimable: Error, Equatable, Sendable, CustomStringConvertible {
    /// `application_pending`, `application_rejected` or `application_claimed`.
    public var code: String
    public var description: String
}

extension MarketStore {
    /// Stores an application and returns it with its claim secret (`pdxclaim_<64 hex>`), shown this once:
    /// only its SHA-256 is kept. A credit code already registered, or under review in another
    /// application, is refused (`DuplicateCreditCode`).
    public func submitApplication(_ new: NewApplication) async throws -> (application: Application, claimSecret: String) {
        try validateText(new.name, field: "name", maxLength: 200)
        if let name = new.nameEN { try validateText(name, field: "name_en", maxLength: 200) }
        let code = try CreditCode(new.creditCode)
        _ = try RegionCode(new.regionCode)
        guard new.contact.name != nil else { throw MarketInputError(field: "contact.name", rule: "is required") }
        guard new.contact.email != nil else { throw MarketInputError(field: "contact.email", rule: "is required") }
        try new.contact.validate()
        guard Set(new.classes).count == new.classes.count else { throw MarketInputError(field: "classes", rule: "must not repeat a class") }
        guard new.scenarios.count <= 50, Set(new.scenarios).count == new.scenarios.count else {
            throw MarketInputError(field: "scenarios", rule: "must be at most 50 distinct scenarios")
        }
        let secret = "pdxclaim_\(Self.randomHex(32))"
        let id = UUID()
        let created = try await transaction { connection in
            guard try await connection.query("SELECT 1 FROM parties WHERE credit_code = \(code.value)").isEmpty else {
                throw DuplicateCreditCode(description: "a party with this unified social credit code is already registered")
            }
            let created = try await connection.query("""
                INSERT INTO applications (id, kind, name, name_en, credit_code, region_code, contact_name, contact_email, contact_phone,
                                          classes, scenarios, claim_sha256, submitted_from)
                VALUES (\(id), \(new.kind.rawValue)::pdx_party_kind, \(new.name), \(new.nameEN), \(code.value), \(new.regionCode),
                        \(new.contact.name), \(new.contact.email), \(new.contact.phone), \(new.classes.map(\.rawValue))::pdx_party_class[],
                        \(new.scenarios), \(Self.digest(secret)), \(new.submittedFrom))
                RETURNING created_at
                """).scalar(Date.self) ?? Date()
            try await connection.audit(.system, "application.submit", "application", id,
                                       after: #"{"kind":"\#(new.kind.rawValue)","credit_code":"\#(code.value)"}"#)
            return created
        }
        return (Application(id: id, kind: new.kind, name: new.name, nameEN: new.nameEN, creditCode: code.value, regionCode: new.regionCode,
                            contact: new.contact, classes: new.classes, scenarios: new.scenarios, state: .pending, submittedFrom: new.submittedFrom,
                            createdAt: created), secret)
    }

    /// Applications in one state or all, oldest first.
    public func applications(state: ApplicationState? = nil) async throws -> [Application] {
        try await query("""
            SELECT \(unsafeRaw: Self.applicationColumns) FROM applications
            WHERE \(state?.rawValue)::pdx_application_state IS NULL OR state = \(state?.rawValue)::pdx_application_state
            ORDER BY created_at, id
            """).map(Self.application)
    }

    public func application(_ id: UUID) async throws -> Application {
        guard let found = try await query("SELECT \(unsafeRaw: Self.applicationColumns) FROM applications WHERE id = \(id)").map(Self.application).first else {
            throw MarketNotFound("application", id)
        }
        return found
    }

    /// Approves a pending application: registers its party and verifies the classes the administrator
    /// accepts (among those claimed, with the evidence and expiry given), in one transaction, audited.
    public func approveApplication(_ id: UUID, acceptingClasses accepted: [PartyClass] = [], evidence: String? = nil, expiresAt: Date? = nil,
                                   reason: String, by actor: Actor) async throws -> Application {
        try validateText(reason, field: "reason", maxLength: 2000)
        if !accepted.isEmpty {
            guard let evidence else { throw MarketInputError(field: "evidence", rule: "is required to accept a class") }
            try validateText(evidence, field: "evidence", maxLength: 2000)
            guard expiresAt != nil else { throw MarketInputError(field: "expires_at", rule: "is required to accept a class") }
        }
        return try await inOneTransaction {
            let party = try await self.transaction { connection in
                let application = try await connection.lockPendingApplication(id, to: "approved")
                let unclaimed = Set(accepted).subtracting(application.classes)
                guard unclaimed.isEmpty else {
                    throw MarketInputError(field: "classes", rule: "may accept only classes the application claims (\(application.classes.map(\.rawValue).joined(separator: ", "))); \(unclaimed.map(\.rawValue).sorted().joined(separator: ", ")) is not")
                }
                let party = try await connection.registerParty(
                    NewParty(kind: application.kind, name: application.name, nameEN: application.nameEN, creditCode: application.creditCode,
                             regionCode: application.regionCode, contact: application.contact), actor: actor)
                try await connection.execute("""
                    UPDATE applications SET state = 'approved', party_id = \(party.id), decided_by = \(actor.description), decided_at = now(),
                        decision_reason = \(reason)
                    WHERE id = \(id)
                    """)
                try await connection.audit(actor, "application.approve", "application", id, reason: reason,
                                           after: #"{"party":"\#(party.id.uuidString.lowercased())","classes":\#(try json(accepted.map(\.rawValue)))}"#)
                return party
            }
            for partyClass in accepted {
                _ = try await self.verifyParty(party.id, as: partyClass, evidence: evidence ?? "", expiresAt: expiresAt ?? Date(), by: actor)
            }
            return try await self.application(id)
        }
    }

    /// Rejects a pending application with a reason (the applicant reads it when it tries to claim).
    public func rejectApplication(_ id: UUID, reason: String, by actor: Actor) async throws {
        try validateText(reason, field: "reason", maxLength: 2000)
        try await transaction { connection in
            _ = try await connection.lockPendingApplication(id, to: "rejected")
            try await connection.execute("""
                UPDATE applications SET state = 'rejected', decided_by = \(actor.description), decided_at = now(), decision_reason = \(reason)
                WHERE id = \(id)
                """)
            try await connection.audit(actor, "application.reject", "application", id, reason: reason)
        }
    }

    /// Exchanges an approved application's claim secret, once, for its party's first API key. An unknown
    /// application and a wrong secret are the same answer (`MarketNotFound`), compared in constant time.
    public func claimApplication(_ id: UUID, secret: String) async throws -> (application: Application, key: APIKey, token: String) {
        try await transaction { connection in
            guard let row = try await connection.query("""
                SELECT claim_sha256, state::text, decision_reason FROM applications WHERE id = \(id) FOR UPDATE
                """).first else { throw MarketNotFound("application", id) }
            let (hash, state, reason) = try row.decode(Data.self, String.self, String?.self)
            guard Self.constantTimeEqual(hash, Self.digest(secret)) else { throw MarketNotFound("application", id) }
            switch try Rows.known(state, ApplicationState.self, "applications.state") {
            case .pending:
                throw ApplicationNotClaimable(code: "application_pending", description: "the application is still under review; claim it once it is approved")
            case .rejected:
                throw ApplicationNotClaimable(code: "application_rejected", description: "the application was rejected: \(reason ?? "")")
            case .claimed:
                throw ApplicationNotClaimable(code: "application_claimed", description: "the claim secret was already exchanged for a key; it works once")
            case .approved:
                break
            }
            try await connection.execute("UPDATE applications SET state = 'claimed', claimed_at = now() WHERE id = \(id)")
            let application = try await connection.query("SELECT \(unsafeRaw: Self.applicationColumns) FROM applications WHERE id = \(id)")
                .map(Self.application)[0]
            guard let partyID = application.partyID else { throw MarketNotFound("application", id) }
            let (key, token) = try await connection.createAPIKey(party: partyID, label: "claimed with application \(id.uuidString.lowercased())",
                                                                 expiresAt: nil, action: "api_key.claim", actor: .party(partyID))
            return (application, key, token)
        }
    }

    static let applicationColumns = """
        id, kind::text, name, name_en, credit_code, region_code, contact_name, contact_email, contact_phone, classes::text[], scenarios,
        state::text, party_id, decided_by, decided_at, decision_reason, claimed_at, submitted_from, created_at
        """

    static func application(_ row: PostgresRow) throws -> Application {
        let (id, kind, name, nameEN, code, region, contactName, contactEmail, contactPhone, classes) = try row.decode(
            UUID.self, String.self, String.self, String?.self, String.self, String.self, String?.self, String?.self, String?.self, [String].self, at: 0)
        let (scenarios, state, party, decidedBy, decidedAt, decision, claimed, from, created) = try row.decode(
            [String].self, String.self, UUID?.self, String?.self, Date?.self, String?.self, Date?.self, String?.self, Date.self, at: 10)
        return Application(id: id, kind: try Rows.known(kind, PartyKind.self, "applications.kind"), name: name, nameEN: nameEN, creditCode: code,
                           regionCode: region, contact: Contact(name: contactName, email: contactEmail, phone: contactPhone),
                           classes: try classes.map { try Rows.known($0, PartyClass.self, "applications.classes") }, scenarios: scenarios,
                           state: try Rows.known(state, ApplicationState.self, "applications.state"), partyID: party, decidedBy: decidedBy,
                           decidedAt: decidedAt, decisionReason: decision, claimedAt: claimed, submittedFrom: from, createdAt: created)
    }
}

extension PostgresConnection {
    func lockPendingApplication(_ id: UUID, to next: String) async throws -> Application {
        guard let application = try await query("SELECT \(unsafeRaw: MarketStore.applicationColumns) FROM applications WHERE id = \(id) FOR UPDATE")
            .map(MarketStore.application).first else { throw MarketNotFound("application", id) }
        guard application.state == .pending else {
            throw TransitionRefused(subject: "application", from: application.state.rawValue, to: next, allowed: [])
        }
        return application
    }
}
