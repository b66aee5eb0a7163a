public import Foundation
public import Market
import JobQueue
import MarketJobs
import Postgres

/// How to reach a party's people.
public struct Contact: Sendable, Codable, Equatable {
    public var name: String?
    public var email: String?
    public var phone: String?

    public init(name: String? = nil, email: String? = nil, phone: String? = nil) {
        self.name = name
        self.email = email
        self.phone = phone
    }

    /// Checks each part given (`field` prefixes the names: `contact.email`).
    public func validate(field: String = "contact") throws(MarketInputError) {
        if let name { try validateText(name, field: "\(field).name", maxLength: 200) }
        if let email, email.count > 254 || email.wholeMatch(of: #/[^@\s]+@[^@\s]+\.[^@\s]+/#) == nil {
            throw MarketInputError(field: "\(field).email", rule: "must be an email address (name@domain), at most 254 characters")
        }
        if let phone, phone.wholeMatch(of: #/\+?[0-9][0-9 -]{4,30}/#) == nil {
            throw MarketInputError(field: "\(field).phone", rule: "must be a phone number: 5 to 31 digits, spaces or dashes, optionally after +")
        }
    }
}

/// A party as an administrator sees it.
public struct PartyDetails: Sendable {
    public var party: Party
    public var contact: Contact
    /// Why it was last suspended, reinstated or closed.
    public var stateReason: String?
    public var stateChangedAt: Date
    public var createdAt: Date
}

/// What changes on a party; nil keeps a value.
public struct PartyUpdate: Sendable {
    public var name: String?
    public var nameEN: String?
    public var regionCode: String?
    public var contact: Contact

    public init(name: String? = nil, nameEN: String? = nil, regionCode: String? = nil, contact: Contact = Contact()) {
        self.name = name
        self.nameEN = nameEN
        self.regionCode = regionCode
        self.contact = contact
    }

    public var isEmpty: Bool { name == nil && nameEN == nil && regionCode == nil && contact == Contact() }
}

/// What a suspension, a reinstatement or a closure did besides changing the party's state.
public struct PartyStateChange: Sendable, Equatable {
    public var state: PartyState
    public var withdrawnMatches: [UUID] = []
    public var delistedProducts: [UUID] = []
    public var cancelledDemands: [UUID] = []
    public var revokedAuthorizations: [UUID] = []
    /// Listed products and open demands offered to matching again (a reinstatement).
    public var rematched: Int = 0
}

/// A verification as recorded, in force or not.
public struct VerificationRecord: Sendable, Codable, Equatable {
    public var verification: Verification
    public var partyID: UUID
    public var verifiedBy: String
    public var verifiedAt: Date
    public var revokedAt: Date?
    public var revokedReason: String?
}

/// How two parties are related (rule 4's "indirectly").
public enum AffiliationRelation: String, Sendable, Codable, CaseIterable {
    case parent, subsidiary
    case commonControl = "common_control"
}

public struct Affiliation: Sendable, Codable, Equatable {
    public var id: Int64
    /// `partyID` is the `relation` of `affiliateID`.
    public var partyID: UUID
    public var affiliateID: UUID
    public var relation: AffiliationRelation
    public var reason: String
    public var createdBy: String
    public var createdAt: Date
    public var endedAt: Date?
    public var endedReason: String?
}

/// An action the caller may not take on this object (the API answers 403).
public struct MarketForbidden: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension MarketStore {
    // MARK: Details and updates

    public func partyDetails(_ id: UUID) async throws -> PartyDetails {
        try await read { connection in try await connection.partyDetails(id) }
    }

    /// Changes a party's names, region or contact (its kind and credit code never change), audited with
    /// the values before and after.
    public func updateParty(_ id: UUID, _ update: PartyUpdate, reason: String?, by actor: Actor) async throws -> PartyDetails {
        guard !update.isEmpty else { throw MarketInputError(field: "update", rule: "must change at least one of name, name_en, region, contact") }
        if let name = update.name { try validateText(name, field: "name", maxLength: 200) }
        if let name = update.nameEN { try validateText(name, field: "name_en", maxLength: 200) }
        if let region = update.regionCode { _ = try RegionCode(region) }
        try update.contact.validate()
        if let reason { try validateText(reason, field: "reason", maxLength: 2000) }
        return try await transaction { connection in
            let before = try await connection.partyDetails(id, lock: true)
            try await connection.execute("""
                UPDATE parties SET name = coalesce(\(update.name), name), name_en = coalesce(\(update.nameEN), name_en),
                    region_code = coalesce(\(update.regionCode), region_code), contact_name = coalesce(\(update.contact.name), contact_name),
                    contact_email = coalesce(\(update.contact.email), contact_email), contact_phone = coalesce(\(update.contact.phone), contact_phone)
                WHERE id = \(id)
                """)
            let after = try await connection.partyDetails(id)
            try await connection.audit(actor, "party.update", "party", id, reason: reason, before: try Self.auditJSON(before), after: try Self.auditJSON(after))
            return after
        }
    }

    static func auditJSON(_ details: PartyDetails) throws -> String {
        struct Shown: Encodable { var name: String; var name_en: String?; var region_code: String; var contact: Contact }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(Shown(name: details.party.name, name_en: details.party.nameEN,
                                                        region_code: details.party.regionCode.value, contact: details.contact)), as: UTF8.self)
    }

    // MARK: Suspension, reinstatement, closure

    /// Suspends (`.suspended`), reinstates (`.active`) or closes (`.closed`) a party, with a reason, audited.
    ///
    /// The rule, on every path (the database refuses what this does not reach):
    /// - suspended: its API keys are refused at once (401 `party_suspended`); nothing new comes from it or
    ///   with it (demands, products, listings, resources, grants, proposals, orders: refused by triggers);
    ///   its listed products leave the catalogue and matching, its open demands are not matched (they keep
    ///   their state and expire as usual), and every live proposal of its products or to its demands is
    ///   withdrawn. Orders already placed run on.
    /// - reinstated: its keys work again, its listed products return to the catalogue, and its listed
    ///   products and open demands are offered to matching again.
    /// - closed (final): as suspended, and its products are delisted, its demands not yet ordered are
    ///   cancelled, and the authorizations it holds or granted are revoked. Every record is kept.
    @discardableResult
    public func changeParty(_ id: UUID, to next: PartyState, reason: String, by actor: Actor) async throws -> PartyStateChange {
        try validateText(reason, field: "reason", maxLength: 2000)
        return try await inOneTransaction {
            try await self.transaction { connection in
                // FOR UPDATE: waits for the inserts in flight that name the party (they lock it FOR KEY SHARE).
                guard let text = try await connection.query("SELECT state::text FROM parties WHERE id = \(id) FOR UPDATE").scalar(String.self) else {
                    throw MarketNotFound("party", id)
                }
                let current = try Rows.known(text, PartyState.self, "parties.state")
                _ = try current.moving(to: next)
                try await connection.execute("""
                    UPDATE parties SET state = \(next.rawValue)::pdx_party_state, state_reason = \(reason), state_changed_at = now() WHERE id = \(id)
                    """)
                let verb = switch next { case .active: "reinstate"; case .suspended: "suspend"; case .closed: "close" }
                try await connection.audit(actor, "party.\(verb)", "party", id, reason: reason, before: stateJSON(current.rawValue), after: stateJSON(next.rawValue))
            }
            var change = PartyStateChange(state: next)
            let why = "party \(next == .closed ? "closed" : next.rawValue): \(reason)"
            if next == .active {
                change.rematched = try await self.transaction { connection in try await connection.rematch(party: id) }
                return change
            }
            change.withdrawnMatches = try await self.transaction { connection in try await connection.withdrawMatches(ofParty: id, reason: why, actor: actor) }
                .sorted { $0.uuidString < $1.uuidString }
            guard next == .closed else { return change }
            // Closed: what it holds ends for good, through the same transitions an agency or a demander makes.
            let (authorizations, products, demands) = try await self.transaction { connection in
                (try await connection.query("""
                    SELECT id FROM authorizations WHERE (operator_id = \(id) OR agency_id = \(id)) AND state IN ('active', 'suspended') ORDER BY id
                    """).decode(UUID.self),
                 try await connection.query("SELECT id FROM products WHERE operator_id = \(id) AND state <> 'delisted' ORDER BY id").decode(UUID.self),
                 try await connection.query("""
                    SELECT id FROM demands WHERE demander_id = \(id) AND state IN ('draft', 'open', 'matched') ORDER BY id
                    """).decode(UUID.self))
            }
            for authorization in authorizations {
                let revoked = try await self.changeAuthorization(authorization, to: .revoked, reason: why, by: actor)
                change.revokedAuthorizations.append(authorization)
                change.delistedProducts += revoked.delistedProducts
                change.withdrawnMatches += revoked.withdrawnMatches
            }
            for product in products where !change.delistedProducts.contains(product) {
                try await self.changeProduct(product, to: .delisted, reason: why, by: actor)
                change.delistedProducts.append(product)
            }
            for demand in demands {
                try await self.changeDemand(demand, to: .cancelled, by: actor, reason: why)
                change.cancelledDemands.append(demand)
            }
            return change
        }
    }

    // MARK: Verified classes

    /// Records that a party is of a class, with the evidence and until when; the party's live proposals
    /// are priced again at once, and again when the verification expires.
    public func verifyParty(_ id: UUID, as partyClass: PartyClass, evidence: String, expiresAt: Date, by actor: Actor) async throws -> VerificationRecord {
        try validateText(evidence, field: "evidence", maxLength: 2000)
        return try await inOneTransaction {
            let record = try await self.transaction { connection in
                let now = try await connection.now()
                guard expiresAt > now, expiresAt <= now.addingTimeInterval(5 * 366 * 86_400) else {
                    throw MarketInputError(field: "expires_at", rule: "must be in the future and at most 5 years away")
                }
                let party = try await connection.partyRow(id)
                guard party.state != .closed else { throw TransitionRefused(subject: "party", from: "closed", to: "verified", allowed: []) }
                let verification = Verification(partyClass: partyClass, evidence: evidence, expiresAt: expiresAt)
                let verifiedAt = try await connection.query("""
                    INSERT INTO party_verifications (id, party_id, class, evidence, verified_by, expires_at)
                    VALUES (\(verification.id), \(id), \(partyClass.rawValue)::pdx_party_class, \(evidence), \(actor.description), \(expiresAt))
                    RETURNING verified_at
                    """).scalar(Date.self) ?? now
                try await connection.audit(actor, "party.verify", "party", id, reason: evidence,
                                           after: #"{"class":"\#(partyClass.rawValue)","verification":"\#(verification.id.uuidString.lowercased())","expires_at":"\#(iso8601(expiresAt))"}"#)
                // When it lapses, the party's proposals are priced without it.
                try await connection.enqueue(NewJob(RepriceBuyerJob(partyID: id, reason: "verification \(verification.id.uuidString.lowercased()) expired"),
                                                    runAt: expiresAt.addingTimeInterval(1),
                                                    uniqueKey: "reprice_buyer:\(verification.id.uuidString.lowercased())"))
                return VerificationRecord(verification: verification, partyID: id, verifiedBy: actor.description, verifiedAt: verifiedAt)
            }
            _ = try await self.repriceProposedMatches(demander: id, reason: "the buyer's verified classes changed", by: actor)
            return record
        }
    }

    /// Withdraws a verification before its expiry (with a reason); the party's proposals are priced again.
    public func revokeVerification(_ id: UUID, reason: String, by actor: Actor) async throws {
        try validateText(reason, field: "reason", maxLength: 2000)
        try await inOneTransaction {
            let party = try await self.transaction { connection in
                guard let party = try await connection.query("""
                    UPDATE party_verifications SET revoked_at = now(), revoked_by = \(actor.description), revoked_reason = \(reason)
                    WHERE id = \(id) AND revoked_at IS NULL RETURNING party_id
                    """).scalar(UUID.self) else {
                    guard try await connection.query("SELECT 1 FROM party_verifications WHERE id = \(id)").isEmpty else {
                        throw TransitionRefused(subject: "verification", from: "revoked", to: "revoked", allowed: [])
                    }
                    throw MarketNotFound("verification", id)
                }
                try await connection.audit(actor, "party.unverify", "party", party, reason: reason,
                                           after: #"{"verification":"\#(id.uuidString.lowercased())"}"#)
                return party
            }
            _ = try await self.repriceProposedMatches(demander: party, reason: "the buyer's verified classes changed", by: actor)
        }
    }

    /// Every verification of a party, newest first.
    public func verifications(of partyID: UUID) async throws -> [VerificationRecord] {
        try await query("""
            SELECT id, class::text, evidence, expires_at, verified_by, verified_at, revoked_at, revoked_reason
            FROM party_verifications WHERE party_id = \(partyID) ORDER BY verified_at DESC, id
            """).map { row in
            let (id, partyClass, evidence, expires, by, at, revoked, why) = try row.decode(
                UUID.self, String.self, String.self, Date.self, String.self, Date.self, Date?.self, String?.self)
            return VerificationRecord(verification: Verification(id: id, partyClass: try Rows.known(partyClass, PartyClass.self, "party_verifications.class"),
                                                                 evidence: evidence, expiresAt: expires),
                                      partyID: partyID, verifiedBy: by, verifiedAt: at, revokedAt: revoked, revokedReason: why)
        }
    }

    // MARK: Affiliations

    /// Records that `partyID` is the `relation` of `affiliateID`. From now on the anti-monopoly rule
    /// treats each as the other (and as every party affiliated with either): live proposals that now
    /// break it are withdrawn in the same transaction.
    public func affiliate(_ partyID: UUID, with affiliateID: UUID, relation: AffiliationRelation, reason: String,
                          by actor: Actor) async throws -> Affiliation {
        try validateText(reason, field: "reason", maxLength: 2000)
        guard partyID != affiliateID else { throw MarketInputError(field: "affiliate", rule: "must be another party") }
        return try await transaction { connection in
            // Both groups' parties locked (in id order): a proposal in flight to one of their demands (which
            // locks its demander FOR KEY SHARE) finishes first, and is then withdrawn below, or waits and sees this.
            let locked = try await connection.query("""
                SELECT id FROM parties WHERE id = ANY(pdx_affiliated(\(partyID)) || pdx_affiliated(\(affiliateID))) ORDER BY id FOR UPDATE
                """).decode(UUID.self)
            for id in [partyID, affiliateID] where !locked.contains(id) { throw MarketNotFound("party", id) }
            let rows = try await connection.query("""
                INSERT INTO party_affiliations (party_id, affiliate_id, relation, reason, created_by)
                SELECT \(partyID), \(affiliateID), \(relation.rawValue)::pdx_affiliation, \(reason), \(actor.description)
                WHERE NOT EXISTS (SELECT 1 FROM party_affiliations WHERE ended_at IS NULL
                                  AND least(party_id, affiliate_id) = least(\(partyID), \(affiliateID))
                                  AND greatest(party_id, affiliate_id) = greatest(\(partyID), \(affiliateID)))
                RETURNING id, created_at
                """).decode(Int64.self, Date.self)
            guard let (id, created) = rows.first else {
                throw TransitionRefused(subject: "affiliation", from: "already recorded", to: "recorded", allowed: [])
            }
            try await connection.audit(actor, "party.affiliate", "party", partyID, reason: reason,
                                       after: #"{"affiliate":"\#(affiliateID.uuidString.lowercased())","relation":"\#(relation.rawValue)"}"#)
            try await connection.withdrawProposalsBreakingAntiMonopoly(group: partyID, actor: actor)
            return Affiliation(id: id, partyID: partyID, affiliateID: affiliateID, relation: relation, reason: reason,
                               createdBy: actor.description, createdAt: created)
        }
    }

    /// Ends the live affiliation between two parties (either order), keeping its row.
    public func unaffiliate(_ partyID: UUID, from affiliateID: UUID, reason: String, by actor: Actor) async throws {
        try validateText(reason, field: "reason", maxLength: 2000)
        try await transaction { connection in
            let ended = try await connection.execute("""
                UPDATE party_affiliations SET ended_at = now(), ended_by = \(actor.description), ended_reason = \(reason)
                WHERE ended_at IS NULL AND least(party_id, affiliate_id) = least(\(partyID), \(affiliateID))
                  AND greatest(party_id, affiliate_id) = greatest(\(partyID), \(affiliateID))
                """)
            guard ended == 1 else { throw MarketNotFound("affiliation between parties", partyID) }
            try await connection.audit(actor, "party.unaffiliate", "party", partyID, reason: reason,
                                       after: #"{"affiliate":"\#(affiliateID.uuidString.lowercased())"}"#)
        }
    }

    /// The affiliations a party takes part in (live and ended), oldest first.
    public func affiliations(of partyID: UUID) async throws -> [Affiliation] {
        try await query("""
            SELECT id, party_id, affiliate_id, relation::text, reason, created_by, created_at, ended_at, ended_reason
            FROM party_affiliations WHERE party_id = \(partyID) OR affiliate_id = \(partyID) ORDER BY id
            """).map { row in
            let (id, party, affiliate, relation, reason, by, at, ended, why) = try row.decode(
                Int64.self, UUID.self, UUID.self, String.self, String.self, String.self, Date.self, Date?.self, String?.self)
            return Affiliation(id: id, partyID: party, affiliateID: affiliate,
                               relation: try Rows.known(relation, AffiliationRelation.self, "party_affiliations.relation"), reason: reason,
                               createdBy: by, createdAt: at, endedAt: ended, endedReason: why)
        }
    }

    /// A party and every party affiliated with it, directly or through others.
    public func affiliated(with partyID: UUID) async throws -> Set<UUID> {
        Set(try await query("SELECT pdx_affiliated(\(partyID))").scalar([UUID].self) ?? [partyID])
    }

    // MARK: Public-interest purposes

    /// An agency approves or refuses a demand's public-interest purpose (the latest decision counts). The
    /// agency must be responsible for it: its region covers one of the demand's regions. The demand's
    /// proposals are priced again at once; an approved open demand is matched again.
    public func reviewPurpose(of demandID: UUID, agency agencyID: UUID, approve: Bool, reason: String, by actor: Actor) async throws -> UUID {
        try validateText(reason, field: "reason", maxLength: 2000)
        return try await inOneTransaction {
            let review = try await self.transaction { connection in
                _ = try await connection.demandState(demandID, lock: true)
                let demand = try await connection.matchingSubject(demandID)
                guard demand.demand.purpose.isPublicInterest else {
                    throw MarketInputError(field: "purpose", rule: "is \(demand.demand.purpose.rawValue), not a public-interest purpose: there is nothing to approve")
                }
                guard !demand.state.isFinal, demand.state != .ordered else {
                    throw TransitionRefused(subject: "demand", from: demand.state.rawValue, to: "reviewed", allowed: [])
                }
                let agency = try await connection.partyRow(agencyID)
                guard agency.kind == .agency, demand.demand.regions.contains(where: { agency.regionCode.covers($0) }) else {
                    throw MarketForbidden("only an agency whose region covers one of the demand's regions reviews its purpose")
                }
                let id = UUID()
                try await connection.execute("""
                    INSERT INTO demand_purpose_reviews (id, demand_id, agency_id, approved, reason) VALUES (\(id), \(demandID), \(agencyID), \(approve), \(reason))
                    """)
                try await connection.audit(actor, approve ? "demand.purpose_approve" : "demand.purpose_refuse", "demand", demandID, reason: reason,
                                           after: #"{"review":"\#(id.uuidString.lowercased())","purpose":"\#(demand.demand.purpose.rawValue)"}"#)
                if approve, demand.state == .open || demand.state == .matched {
                    try await connection.enqueue(NewJob(MatchDemandJob(demandID: demandID), queue: matchQueue))
                }
                return id
            }
            _ = try await self.repriceProposedMatches(demand: demandID, reason: "the demand's public-interest purpose was reviewed", by: actor)
            return review
        }
    }
}

extension PostgresConnection {
    func partyDetails(_ id: UUID, lock: Bool = false) async throws -> PartyDetails {
        guard let row = try await query("""
            SELECT \(unsafeRaw: Rows.partyColumns("p")), p.contact_name, p.contact_email, p.contact_phone, p.state_reason, p.state_changed_at, p.created_at
            FROM parties p WHERE p.id = \(id) \(unsafeRaw: lock ? "FOR NO KEY UPDATE" : "")
            """).first else {
            throw MarketNotFound("party", id)
        }
        let (name, email, phone, reason, changed, created) = try row.decode(
            String?.self, String?.self, String?.self, String?.self, Date.self, Date.self, at: Rows.partyColumnCount)
        return PartyDetails(party: try await withVerifications(try Rows.party(row, from: 0)), contact: Contact(name: name, email: email, phone: phone),
                            stateReason: reason, stateChangedAt: changed, createdAt: created)
    }

    /// Withdraws every live proposal of a party's products or to a party's demands.
    func withdrawMatches(ofParty id: UUID, reason: String, actor: Actor) async throws -> [UUID] {
        try await withdrawProposals(try await query("""
            SELECT m.id FROM matches m JOIN demands d ON d.id = m.demand_id JOIN products p ON p.id = m.product_id
            WHERE m.state = 'proposed' AND (d.demander_id = \(id) OR p.operator_id = \(id))
            """).decode(UUID.self), reason: reason, actor: actor)
    }

    /// Offers a reinstated party's listed products and open demands to matching again; returns how many.
    func rematch(party id: UUID) async throws -> Int {
        let products = try await query("SELECT id, version FROM products WHERE operator_id = \(id) AND state = 'listed' ORDER BY id").decode(UUID.self, Int32.self)
        let demands = try await query("SELECT id FROM demands WHERE demander_id = \(id) AND state IN ('open', 'matched') ORDER BY id").decode(UUID.self)
        try await enqueue(try products.map { try NewJob(MatchProductJob(productID: $0.0, version: Int($0.1)), queue: matchQueue) }
                          + demands.map { try NewJob(MatchDemandJob(demandID: $0), queue: matchQueue) })
        return products.count + demands.count
    }

    /// Withdraws the live proposals to the demands of a party's affiliated group that the anti-monopoly
    /// rule now forbids (after an affiliation was recorded).
    func withdrawProposalsBreakingAntiMonopoly(group partyID: UUID, actor: Actor) async throws {
        _ = try await withdrawProposals(try await query("""
            SELECT m.id FROM matches m JOIN demands d ON d.id = m.demand_id
            WHERE m.state = 'proposed' AND d.demander_id = ANY(pdx_affiliated(\(partyID)))
              AND pdx_anti_monopoly_holder(d.demander_id, m.product_id, m.product_version) IS NOT NULL
            """).decode(UUID.self),
            reason: "anti-monopoly: the demander is now affiliated with an operator authorized for this product's scope", actor: actor)
    }
}
