import Foundation
import Market
import MarketStore
import PDXAPITypes

/// Implementing agencies: their data resources and the authorizations they grant. Operators read the
/// authorizations they hold.
extension Handlers {
    func registerResource(_ input: Operations.RegisterResource.Input) async throws -> Operations.RegisterResource.Output {
        let party = try Caller.required()
        guard party.kind == .agency else { throw Problem.forbidden("only agencies register data resources") }
        let body = input.body.value
        let resource = try await store.registerResource(try body.resource(), agency: party.id, deidentification: try await body.deidentification.asyncMap { try await $0.step(store) },
                                                        by: .party(party.id))
        return .created(.init(headers: .init(location: "/v1/resources/\(resource.id.lowercased)"), body: .json(try .init(resource))))
    }

    func listResources(_ input: Operations.ListResources.Input) async throws -> Operations.ListResources.Output {
        let (items, next) = try await ownPage(after: input.query.after, limit: input.query.limit, store.resources(of:after:limit:), id: \.id,
                                              as: Components.Schemas.Resource.init)
        return .ok(.init(body: .json(.init(items: items, next: next))))
    }

    func getResource(_ input: Operations.GetResource.Input) async throws -> Operations.GetResource.Output {
        let party = try Caller.required()
        let id = try uuid(input.path.id, field: "id")
        guard let resource = try await store.resource(id), resource.agencyID == party.id else { throw MarketNotFound("resource", id) }
        return .ok(.init(body: .json(try .init(resource))))
    }

    func grantAuthorization(_ input: Operations.GrantAuthorization.Input) async throws -> Operations.GrantAuthorization.Output {
        let party = try Caller.required()
        guard party.kind == .agency else { throw Problem.forbidden("only agencies grant authorizations") }
        let body = input.body.value
        let holderID = try uuid(body.operatorId, field: "operator_id")
        // An unknown party and a party of another kind are the same mistake; a database error stays one (503).
        let holder: Party?
        do { holder = try await store.party(holderID) } catch is MarketNotFound { holder = nil }
        guard holder?.kind == .operator else { throw MarketInputError(field: "operator_id", rule: "must name a registered operator") }
        let granted = try await store.grant(try body.authorization(agency: party.id, holder: holderID), by: .party(party.id))
        let grant = try await store.authorization(granted.id)
        return .created(.init(headers: .init(location: "/v1/authorizations/\(grant.id.lowercased)"), body: .json(try .init(grant))))
    }

    func listAuthorizations(_ input: Operations.ListAuthorizations.Input) async throws -> Operations.ListAuthorizations.Output {
        let (items, next) = try await ownPage(after: input.query.after, limit: input.query.limit, store.authorizations(of:after:limit:), id: \.id,
                                              as: Components.Schemas.Authorization.init)
        return .ok(.init(body: .json(.init(items: items, next: next))))
    }

    func getAuthorization(_ input: Operations.GetAuthorization.Input) async throws -> Operations.GetAuthorization.Output {
        let party = try Caller.required()
        let id = try uuid(input.path.id, field: "id")
        let grant = try await store.authorization(id)
        guard grant.agencyID == party.id || grant.operatorID == party.id else { throw MarketNotFound("authorization", id) }
        return .ok(.init(body: .json(try .init(grant))))
    }

    // Only the granting agency changes an authorization; suspending and revoking need a reason.

    func suspendAuthorization(_ input: Operations.SuspendAuthorization.Input) async throws -> Operations.SuspendAuthorization.Output {
        .ok(.init(body: .json(try await moveAuthorization(input.path.id, "suspend", to: .suspended, reason: input.body.reason))))
    }

    func reinstateAuthorization(_ input: Operations.ReinstateAuthorization.Input) async throws -> Operations.ReinstateAuthorization.Output {
        .ok(.init(body: .json(try await moveAuthorization(input.path.id, "reinstate", to: .active, reason: input.body.reason))))
    }

    func revokeAuthorization(_ input: Operations.RevokeAuthorization.Input) async throws -> Operations.RevokeAuthorization.Output {
        .ok(.init(body: .json(try await moveAuthorization(input.path.id, "revoke", to: .revoked, reason: input.body.reason))))
    }

    private func moveAuthorization(_ text: String, _ action: String, to next: AuthorizationState, reason: String?) async throws
        -> Components.Schemas.Authorization {
        let party = try Caller.required()
        let id = try uuid(text, field: "id")
        let grant = try await store.authorization(id)
        guard grant.agencyID == party.id else {
            if grant.operatorID == party.id { throw Problem.forbidden("only the granting agency may \(action) an authorization") }
            throw MarketNotFound("authorization", id)
        }
        try await store.changeAuthorization(id, to: next, reason: reason, by: .party(party.id))
        return try .init(try await store.authorization(id))
    }
}
