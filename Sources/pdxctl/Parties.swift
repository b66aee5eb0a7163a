import ArgumentParser
import Foundation
import Market
import MarketStore
import PDXCommandLine

struct PartiesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parties",
        abstract: "The market's parties: register, list, show, update, suspend, reinstate, close; verify classes; affiliations.",
        discussion: """
            A party is a legal entity known by its unified social credit code (GB 32100-2015, checked); its \
            kind decides what its API keys may do. Every change is audited with --actor (and --reason).

            Suspending a party refuses its keys at once (401 party_suspended) and freezes it: nothing new \
            from it or with it (demands, products, listings, resources, grants, proposals, orders); its listed \
            products leave the catalogue and matching, its open demands wait unmatched (they expire as usual), \
            and every live proposal of its products or to its demands is withdrawn. Orders already placed run \
            on. Reinstating restores all of it and offers its products and open demands to matching again. \
            Closing is final: as suspending, and its products are delisted, its demands not yet ordered \
            cancelled, the authorizations it holds or granted revoked; every record is kept.

            A class (small_micro, public_institution, social_organization) earns its pricing only once \
            verified, with evidence, until its expiry. Affiliated parties are one for the anti-monopoly rule.

            Examples:
              pdxctl parties register --kind agency --name "上海市大数据中心" --name-en "Shanghai Big Data Center" \\
                  --credit-code 12310000MB2F31843J --region 310000 --contact-name "王芳" --contact-email data@example.gov.cn
              pdxctl parties list --kind operator --state active
              pdxctl parties verify 5f1e… --class small_micro --evidence "MIIT classification 2026-031" --expires-in 365d
              pdxctl parties suspend 5f1e… --reason "unpaid fees since 2026-10"
              pdxctl parties affiliate 7a2c… 5f1e… --relation parent --reason "holds 60% (business licence 2026)"
            """,
        subcommands: [Register.self, List.self, Show.self, Update.self, Suspend.self, Reinstate.self, Close.self, Verify.self, Unverify.self,
                      Affiliate.self, Unaffiliate.self]
    )

    /// A party as pdxctl prints it.
    struct Row: Encodable {
        var id: UUID
        var kind: String
        var name: String
        var nameEn: String?
        var creditCode: String
        var regionCode: String
        var state: String
        var classes: [String]

        init(_ party: Party) {
            id = party.id
            kind = party.kind.rawValue
            name = party.name
            nameEn = party.nameEN
            creditCode = party.creditCode.value
            regionCode = party.regionCode.value
            state = party.state.rawValue
            classes = party.verifications.map(\.partyClass.rawValue)
        }
    }

    static func kind(_ text: String, option: String) throws -> PartyKind {
        try choice(text, option: option, PartyKind.self)
    }

    static func choice<T: RawRepresentable & CaseIterable>(_ text: String, option: String, _ type: T.Type) throws -> T where T.RawValue == String {
        guard let value = T(rawValue: text) else {
            throw ValidationError("\(option) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        }
        return value
    }

    static func partyID(_ text: String, _ what: String = "the party id") throws -> UUID { try uuidArgument(text, what) }

    static func reasonRequired(_ reason: String, option: String = "--reason") throws {
        guard (1...2000).contains(reason.trimmingCharacters(in: .whitespacesAndNewlines).count) else {
            throw ValidationError("\(option) must be 1 to 2000 characters")
        }
    }

    /// Names and contact, as register and update take them.
    struct Identity: ParsableArguments {
        @Option(help: ArgumentHelp("The English name (1 to 200 characters).", valueName: "text")) var nameEn: String?
        @Option(help: ArgumentHelp("The contact person.", valueName: "text")) var contactName: String?
        @Option(help: ArgumentHelp("The contact's email address.", valueName: "address")) var contactEmail: String?
        @Option(help: ArgumentHelp("The contact's phone number.", valueName: "number")) var contactPhone: String?

        var contact: Contact { Contact(name: contactName, email: contactEmail, phone: contactPhone) }

        func check() throws {
            if let nameEn, !(1...200).contains(nameEn.trimmingCharacters(in: .whitespaces).count) { throw ValidationError("--name-en must be 1 to 200 characters") }
            do { try contact.validate() } catch { throw ValidationError("--\(error.field.replacingOccurrences(of: ".", with: "-")) \(error.rule)") }
        }
    }

    static func show(_ details: PartyDetails, json: Bool) throws {
        if json {
            struct Shown: Encodable {
                var party: Row; var contact: Contact; var stateReason: String?; var stateChangedAt: Date; var createdAt: Date
            }
            return try printJSON(Shown(party: Row(details.party), contact: details.contact, stateReason: details.stateReason,
                                       stateChangedAt: details.stateChangedAt, createdAt: details.createdAt))
        }
        let party = details.party
        printTable(["field", "value"], [
            ["id", party.id.uuidString.lowercased()], ["kind", party.kind.rawValue], ["name", party.name], ["name (en)", party.nameEN ?? "-"],
            ["credit code", party.creditCode.value], ["region", party.regionCode.value],
            ["state", party.state.rawValue + (details.stateReason.map { " (\($0))" } ?? "")], ["since", formatDate(details.stateChangedAt)],
            ["contact", [details.contact.name, details.contact.email, details.contact.phone].compactMap { $0 }.joined(separator: ", ")],
            ["verified classes", party.verifications.map { "\($0.partyClass.rawValue) until \(formatDate($0.expiresAt))" }.joined(separator: "; ")],
        ])
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a party and print its id.")
        @Option(help: ArgumentHelp("agency, operator or demander.", valueName: "kind")) var kind: String
        @Option(help: ArgumentHelp("Its legal name, in Chinese (1 to 200 characters).", valueName: "text")) var name: String
        @Option(help: ArgumentHelp("Its unified social credit code (18 characters, check digit verified).", valueName: "code"))
        var creditCode: String
        @Option(help: ArgumentHelp("Its administrative division (GB/T 2260, six digits).", valueName: "code")) var region: String
        @OptionGroup var identity: Identity
        @OptionGroup var audit: ActorOptions

        func validate() throws {
            _ = try PartiesCommand.kind(kind, option: "--kind")
            guard (1...200).contains(name.trimmingCharacters(in: .whitespaces).count) else { throw ValidationError("--name must be 1 to 200 characters") }
            do { _ = try CreditCode(creditCode) } catch { throw ValidationError("--credit-code \(error.rule) (unified social credit code, GB 32100-2015)") }
            do { _ = try RegionCode(region) } catch { throw ValidationError("--region \(error.rule)") }
            try identity.check()
        }

        func run() async throws {
            let new = NewParty(kind: try PartiesCommand.kind(kind, option: "--kind"), name: name, nameEN: identity.nameEn, creditCode: creditCode,
                               regionCode: region, contact: identity.contact)
            let party = try await withStore(audit.database) { try await $0.registerParty(new, by: .administrator(audit.actor)) }
            if audit.json { return try printJSON(Row(party)) }
            say("registered \(party.kind.rawValue) \(party.id.uuidString.lowercased()) (\(party.name))")
            say("next: pdxctl keys create --party \(party.id.uuidString.lowercased())")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered parties, by kind and name.")
        @Option(help: ArgumentHelp("Only parties of this kind: agency, operator or demander.", valueName: "kind")) var kind: String?
        @Option(help: ArgumentHelp("Only parties in this state: active, suspended or closed.", valueName: "state")) var state: String?
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            if let kind { _ = try PartiesCommand.kind(kind, option: "--kind") }
            if let state { _ = try PartiesCommand.choice(state, option: "--state", PartyState.self) }
        }

        func run() async throws {
            let kind = try self.kind.map { try PartiesCommand.kind($0, option: "--kind") }
            let state = try self.state.map { try PartiesCommand.choice($0, option: "--state", PartyState.self) }
            let parties = try await withStore(database) { try await $0.parties(kind: kind, state: state) }
            if json { return try printJSON(parties.map(Row.init)) }
            guard !parties.isEmpty else { return say("no parties") }
            printTable(["id", "kind", "name", "credit code", "region", "state", "verified"], parties.map { party in
                [party.id.uuidString.lowercased(), party.kind.rawValue, party.name, party.creditCode.value, party.regionCode.value,
                 party.state.rawValue, party.verifications.map(\.partyClass.rawValue).joined(separator: ",")]
            })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one party, its verifications, affiliations and API keys (never the keys themselves).")
        @Argument(help: ArgumentHelp("The party's id (from `parties list`).", valueName: "uuid")) var id: String
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws { _ = try PartiesCommand.partyID(id) }

        func run() async throws {
            let partyID = try PartiesCommand.partyID(id)
            let (details, keys, verifications, affiliations) = try await withStore(database) { store in
                (try await store.partyDetails(partyID), try await store.apiKeys(party: partyID), try await store.verifications(of: partyID),
                 try await store.affiliations(of: partyID))
            }
            if json {
                struct Shown: Encodable {
                    var party: Row; var contact: Contact; var stateReason: String?; var keys: [APIKey]; var verifications: [VerificationRecord]
                    var affiliations: [Affiliation]
                }
                return try printJSON(Shown(party: Row(details.party), contact: details.contact, stateReason: details.stateReason, keys: keys,
                                           verifications: verifications, affiliations: affiliations))
            }
            try PartiesCommand.show(details, json: false)
            let active = keys.filter { $0.revokedAt == nil && ($0.expiresAt.map { $0 > Date() } ?? true) }.count
            say("API keys: \(active) usable, \(keys.count - active) revoked or expired")
            for record in verifications {
                let status = record.revokedAt != nil ? "revoked" : record.verification.expiresAt <= Date() ? "expired" : "in force"
                say("verification \(record.verification.id.uuidString.lowercased()): \(record.verification.partyClass.rawValue) until \(formatDate(record.verification.expiresAt)) (\(status)); evidence: \(record.verification.evidence)")
            }
            for affiliation in affiliations {
                say("affiliation \(affiliation.id): \(affiliation.partyID.uuidString.lowercased()) is \(affiliation.relation.rawValue) of \(affiliation.affiliateID.uuidString.lowercased())\(affiliation.endedAt == nil ? "" : " (ended)")")
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a party's names, region or contact (its kind and credit code never change).")
        @Argument(help: ArgumentHelp("The party's id.", valueName: "uuid")) var id: String
        @Option(help: ArgumentHelp("Its legal name, in Chinese.", valueName: "text")) var name: String?
        @Option(help: ArgumentHelp("Its administrative division (GB/T 2260).", valueName: "code")) var region: String?
        @Option(help: ArgumentHelp("Why (recorded in the audit trail).", valueName: "text")) var reason: String?
        @OptionGroup var identity: Identity
        @OptionGroup var audit: ActorOptions

        func validate() throws {
            _ = try PartiesCommand.partyID(id)
            if let name, !(1...200).contains(name.trimmingCharacters(in: .whitespaces).count) { throw ValidationError("--name must be 1 to 200 characters") }
            if let region { do { _ = try RegionCode(region) } catch { throw ValidationError("--region \(error.rule)") } }
            try identity.check()
            if let reason { try PartiesCommand.reasonRequired(reason) }
            guard name != nil || region != nil || identity.nameEn != nil || identity.contact != Contact() else {
                throw ValidationError("give at least one of --name, --name-en, --region, --contact-name, --contact-email, --contact-phone")
            }
        }

        func run() async throws {
            let update = PartyUpdate(name: name, nameEN: identity.nameEn, regionCode: region, contact: identity.contact)
            let details = try await withStore(audit.database) {
                try await $0.updateParty(try PartiesCommand.partyID(id), update, reason: reason, by: .administrator(audit.actor))
            }
            try PartiesCommand.show(details, json: audit.json)
        }
    }

    /// Suspend, reinstate and close: one command each, the same shape.
    struct StateChange: ParsableArguments {
        @Argument(help: ArgumentHelp("The party's id.", valueName: "uuid")) var id: String
        @Option(help: ArgumentHelp("Why (required; recorded, and told to the party).", valueName: "text")) var reason: String
        @OptionGroup var audit: ActorOptions

        func validate() throws {
            _ = try PartiesCommand.partyID(id)
            try PartiesCommand.reasonRequired(reason)
        }

        func run(to next: PartyState, confirmed: Bool = true) async throws {
            let change = try await withStore(audit.database) {
                try await $0.changeParty(try PartiesCommand.partyID(id), to: next, reason: reason, by: .administrator(audit.actor))
            }
            if audit.json {
                struct Shown: Encodable {
                    var state: String; var withdrawnMatches: [UUID]; var delistedProducts: [UUID]; var cancelledDemands: [UUID]
                    var revokedAuthorizations: [UUID]; var rematched: Int
                }
                return try printJSON(Shown(state: change.state.rawValue, withdrawnMatches: change.withdrawnMatches, delistedProducts: change.delistedProducts,
                                           cancelledDemands: change.cancelledDemands, revokedAuthorizations: change.revokedAuthorizations,
                                           rematched: change.rematched))
            }
            say("party \(id.lowercased()) is \(change.state.rawValue): \(change.withdrawnMatches.count) proposals withdrawn, \(change.delistedProducts.count) products delisted, \(change.cancelledDemands.count) demands cancelled, \(change.revokedAuthorizations.count) authorizations revoked, \(change.rematched) products and demands offered to matching again")
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Suspend a party: its keys stop at once and it is frozen (see `pdxctl parties --help`).")
        @OptionGroup var change: StateChange
        func run() async throws { try await change.run(to: .suspended) }
    }

    struct Reinstate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reinstate a suspended party: its keys work again, its products and demands return to matching.")
        @OptionGroup var change: StateChange
        func run() async throws { try await change.run(to: .active) }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a party for good (products delisted, demands cancelled, grants revoked; records kept).")
        @OptionGroup var change: StateChange
        @OptionGroup var confirmation: ConfirmationOptions
        func run() async throws {
            guard try confirmation.confirm("Close party \(change.id) for good? Its products are delisted, its demands cancelled, its grants revoked.") else {
                return say("nothing closed")
            }
            try await change.run(to: .closed)
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record that a party is of a class, with evidence and an expiry; its proposals are priced again.")
        @Argument(help: ArgumentHelp("The party's id.", valueName: "uuid")) var id: String
        @Option(name: .customLong("class"), help: ArgumentHelp("small_micro, public_institution or social_organization.", valueName: "class"))
        var partyClass: String
        @Option(help: ArgumentHelp("The evidence: a document's reference, a registry entry (1 to 2000 characters).", valueName: "text")) var evidence: String
        @Option(help: ArgumentHelp("How long it holds (e.g. 365d; at most 5 years).", valueName: "duration")) var expiresIn: String?
        @Option(help: ArgumentHelp("Until when it holds (RFC 3339), instead of --expires-in.", valueName: "time")) var expiresAt: String?
        @OptionGroup var audit: ActorOptions

        func validate() throws {
            _ = try PartiesCommand.partyID(id)
            _ = try PartiesCommand.choice(partyClass, option: "--class", PartyClass.self)
            try PartiesCommand.reasonRequired(evidence, option: "--evidence")
            _ = try expiry(expiresIn: expiresIn, expiresAt: expiresAt, required: true)
        }

        func run() async throws {
            let partyClass = try PartiesCommand.choice(partyClass, option: "--class", PartyClass.self)
            guard let until = try expiry(expiresIn: expiresIn, expiresAt: expiresAt, required: true) else { return }
            let record = try await withStore(audit.database) {
                try await $0.verifyParty(try PartiesCommand.partyID(id), as: partyClass, evidence: evidence, expiresAt: until, by: .administrator(audit.actor))
            }
            if audit.json { return try printJSON(record) }
            say("verified \(partyClass.rawValue) for party \(id.lowercased()) until \(formatDate(record.verification.expiresAt)) (verification \(record.verification.id.uuidString.lowercased()))")
        }
    }

    struct Unverify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw a verification before it expires; the party's proposals are priced again.")
        @Argument(help: ArgumentHelp("The verification's id (from `parties show`).", valueName: "uuid")) var verification: String
        @Option(help: ArgumentHelp("Why (required).", valueName: "text")) var reason: String
        @OptionGroup var audit: ActorOptions

        func validate() throws {
            _ = try PartiesCommand.partyID(verification, "the verification id")
            try PartiesCommand.reasonRequired(reason)
        }

        func run() async throws {
            try await withStore(audit.database) {
                try await $0.revokeVerification(try PartiesCommand.partyID(verification, "the verification id"), reason: reason, by: .administrator(audit.actor))
            }
            say("verification \(verification.lowercased()) withdrawn")
        }
    }

    struct Affiliate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record that party A is the parent, subsidiary or under common control of party B (rule 4: treated as one).",
            discussion: "Live proposals that the anti-monopoly rule now forbids are withdrawn at once.")
        @Argument(help: ArgumentHelp("Party A.", valueName: "uuid")) var party: String
        @Argument(help: ArgumentHelp("Party B.", valueName: "uuid")) var affiliate: String
        @Option(help: ArgumentHelp("A's relation to B: parent, subsidiary or common-control.", valueName: "relation")) var relation: String
        @Option(help: ArgumentHelp("Why, with the evidence (required).", valueName: "text")) var reason: String
        @OptionGroup var audit: ActorOptions

        static func relation(_ text: String) throws -> AffiliationRelation {
            try PartiesCommand.choice(text.replacingOccurrences(of: "-", with: "_"), option: "--relation", AffiliationRelation.self)
        }

        func validate() throws {
            _ = try PartiesCommand.partyID(party, "party A")
            _ = try PartiesCommand.partyID(affiliate, "party B")
            guard party.lowercased() != affiliate.lowercased() else { throw ValidationError("party B must be another party than A") }
            _ = try Self.relation(relation)
            try PartiesCommand.reasonRequired(reason)
        }

        func run() async throws {
            let affiliation = try await withStore(audit.database) {
                try await $0.affiliate(try PartiesCommand.partyID(party), with: try PartiesCommand.partyID(affiliate), relation: try Self.relation(relation),
                                       reason: reason, by: .administrator(audit.actor))
            }
            if audit.json { return try printJSON(affiliation) }
            say("recorded: \(party.lowercased()) is \(affiliation.relation.rawValue) of \(affiliate.lowercased()) (affiliation \(affiliation.id))")
        }
    }

    struct Unaffiliate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End the affiliation between two parties (its record is kept).")
        @Argument(help: ArgumentHelp("Party A.", valueName: "uuid")) var party: String
        @Argument(help: ArgumentHelp("Party B.", valueName: "uuid")) var affiliate: String
        @Option(help: ArgumentHelp("Why (required).", valueName: "text")) var reason: String
        @OptionGroup var audit: ActorOptions

        func validate() throws {
            _ = try PartiesCommand.partyID(party, "party A")
            _ = try PartiesCommand.partyID(affiliate, "party B")
            try PartiesCommand.reasonRequired(reason)
        }

        func run() async throws {
            try await withStore(audit.database) {
                try await $0.unaffiliate(try PartiesCommand.partyID(party), from: try PartiesCommand.partyID(affiliate), reason: reason,
                                         by: .administrator(audit.actor))
            }
            say("affiliation between \(party.lowercased()) and \(affiliate.lowercased()) ended")
        }
    }
}
