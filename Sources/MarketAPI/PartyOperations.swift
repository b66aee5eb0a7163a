import Foundation
import Market
import MarketStore
import PDXAPITypes

/// Joining the market and knowing oneself: applications and their claim, `GET /v1/me`, key rotation, the
/// managed sectors and scenarios, and an agency's review of a public-interest purpose.
extension Handlers {
    func getMe(_ input: Operations.GetMe.Input) async throws -> Operations.GetMe.Output {
        guard let key = Caller.key else { throw Problem.unauthorized }
        // With its verified classes (authentication reads the party without them).
        let party = try await store.party(try Caller.required().id)
        let classes = try party.verifications.map { verification in
            Components.Schemas.VerifiedClass(_class: try converted(verification.partyClass), verificationId: verification.id.lowercased,
                                             expiresAt: verification.expiresAt)
        }
        return .ok(.init(body: .json(.init(id: party.id.lowercased, kind: try converted(party.kind), name: party.name, nameEn: party.nameEN,
                                           creditCode: party.creditCode.value, regionCode: party.regionCode.value, state: try converted(party.state),
                                           classes: classes, key: .init(key), redeveloperSince: try await store.redeveloperSince(party.id)))))
    }

    /// The caller's key is replaced; the old one keeps working for the grace period (a day by default).
    func rotateKey(_ input: Operations.RotateKey.Input) async throws -> Operations.RotateKey.Output {
        let party = try Caller.required()
        guard let key = Caller.key else { throw Problem.unauthorized }
        let grace = input.body?.value.graceSeconds ?? 86_400
        guard (0...2_592_000).contains(grace) else { throw MarketInputError(field: "grace_seconds", rule: "must be from 0 to 2592000 (30 days)") }
        let (next, token, previous) = try await store.rotateAPIKey(key.id, grace: TimeInterval(grace), by: .party(party.id))
        return .created(.init(body: .json(.init(key: token, newKey: .init(next), previousKey: .init(previous)))))
    }

    func listSectors(_ input: Operations.ListSectors.Input) async throws -> Operations.ListSectors.Output {
        .ok(.init(body: .json(.init(items: try await store.terms(.sectors).map(Components.Schemas.Term.init)))))
    }

    func listScenarios(_ input: Operations.ListScenarios.Input) async throws -> Operations.ListScenarios.Output {
        .ok(.init(body: .json(.init(items: try await store.terms(.scenarios).map(Components.Schemas.Term.init)))))
    }

    func submitApplication(_ input: Operations.SubmitApplication.Input) async throws -> Operations.SubmitApplication.Output {
        let body = input.body.value
        let new = NewApplication(kind: try converted(body.kind), name: body.name, nameEN: body.nameEn, creditCode: body.creditCode,
                                 regionCode: body.regionCode,
                                 contact: Contact(name: body.contact.name, email: body.contact.email, phone: body.contact.phone),
                                 classes: try converted(body.classes ?? []), scenarios: body.scenarios ?? [], submittedFrom: Caller.address)
        let (application, secret) = try await store.submitApplication(new)
        return .created(.init(headers: .init(location: "/v1/applications/\(application.id.lowercased)"),
                              body: .json(.init(id: application.id.lowercased, state: .pending, claimSecret: secret, createdAt: application.createdAt))))
    }

    func claimApplication(_ input: Operations.ClaimApplication.Input) async throws -> Operations.ClaimApplication.Output {
        let id = try uuid(input.path.id, field: "id")
        let (application, key, token) = try await store.claimApplication(id, secret: input.body.value.claimSecret)
        guard let party = application.partyID else { throw MarketNotFound("application", id) }
        return .created(.init(body: .json(.init(partyId: party.lowercased, keyId: key.id.lowercased, key: token, keyPrefix: key.prefix,
                                                expiresAt: key.expiresAt))))
    }

    func reviewDemandPurpose(_ input: Operations.ReviewDemandPurpose.Input) async throws -> Operations.ReviewDemandPurpose.Output {
        let party = try Caller.required()
        guard party.kind == .agency else { throw Problem.forbidden("only agencies review a demand's public-interest purpose") }
        let demand = try uuid(input.path.id, field: "id")
        let decision = input.body.value
        let review = try await store.reviewPurpose(of: demand, agency: party.id, approve: decision.approve, reason: decision.reason, by: .party(party.id))
        return .created(.init(body: .json(.init(id: review.lowercased, demandId: demand.lowercased, approved: decision.approve))))
    }
}

extension Components.Schemas.KeyInfo {
    init(_ key: APIKey) {
        self.init(id: key.id.lowercased, prefix: key.prefix, createdAt: key.createdAt, expiresAt: key.expiresAt)
    }
}

extension Components.Schemas.Term {
    init(_ term: Term) {
        self.init(code: term.code, nameZh: term.nameZH, nameEn: term.nameEN)
    }
}
