import Foundation
import Hummingbird
import Market
import MarketStore

extension MarketAPI {
    /// Implementing agencies: their data resources and the authorizations they grant. Operators read the
    /// authorizations they hold.
    static func addAgencyRoutes(_ v1: RouterGroup<APIContext>, store: MarketStore) {
        v1.post("resources") { request, context -> Response in
            try await context.post(request, as: NewResourceBody.self,
                                   location: { (resource: ResourceBody) in "/v1/resources/\(resource.id.uuidString.lowercased())" }) { body, party in
                guard party.kind == .agency else { throw Problem.forbidden("only agencies register data resources") }
                return ResourceBody(try await store.registerResource(try body.resource(), agency: party.id, by: .party(party.id)))
            }
        }
        v1.get("resources") { request, context -> Page<ResourceBody> in
            let party = try context.requireParty()
            let (after, limit) = try page(request)
            return Page(try await store.resources(of: party.id, after: after, limit: limit).map(ResourceBody.init), limit: limit, id: \.id)
        }
        v1.get("resources/:id") { _, context -> ResourceBody in
            let party = try context.requireParty()
            let id = try context.id("id")
            guard let resource = try await store.resource(id), resource.agencyID == party.id else { throw MarketNotFound("resource", id) }
            return ResourceBody(resource)
        }
        v1.post("authorizations") { request, context -> Response in
            try await context.post(request, as: NewAuthorizationBody.self,
                                   location: { (grant: AuthorizationBody) in "/v1/authorizations/\(grant.id.uuidString.lowercased())" }) { body, party in
                guard party.kind == .agency else { throw Problem.forbidden("only agencies grant authorizations") }
                // An unknown party and a party of another kind are the same mistake; a database error stays one (503).
                let holder: Party?
                do { holder = try await store.party(body.operatorId) } catch is MarketNotFound { holder = nil }
                guard holder?.kind == .operator else { throw MarketInputError(field: "operator_id", rule: "must name a registered operator") }
                let granted = try await store.grant(try body.authorization(agency: party.id), by: .party(party.id))
                return AuthorizationBody(try await store.authorization(granted.id))
            }
        }
        v1.get("authorizations") { request, context -> Page<AuthorizationBody> in
            let party = try context.requireParty()
            let (after, limit) = try page(request)
            return Page(try await store.authorizations(of: party.id, after: after, limit: limit).map(AuthorizationBody.init), limit: limit, id: \.id)
        }
        v1.get("authorizations/:id") { _, context -> AuthorizationBody in
            let party = try context.requireParty()
            let id = try context.id("id")
            let grant = try await store.authorization(id)
            guard grant.agencyID == party.id || grant.operatorID == party.id else { throw MarketNotFound("authorization", id) }
            return AuthorizationBody(grant)
        }
        // Only the granting agency changes an authorization; suspending and revoking need a reason.
        for (action, next) in [("suspend", AuthorizationState.suspended), ("reinstate", .active), ("revoke", .revoked)] {
            v1.post("authorizations/:id/\(action)") { request, context -> Response in
                try await context.post(request, as: Reason.self, status: .ok) { body, party in
                    let id = try context.id("id")
                    let grant = try await store.authorization(id)
                    guard grant.agencyID == party.id else {
                        if grant.operatorID == party.id { throw Problem.forbidden("only the granting agency may \(action) an authorization") }
                        throw MarketNotFound("authorization", id)
                    }
                    try await store.changeAuthorization(id, to: next, reason: body.reason, by: .party(party.id))
                    return AuthorizationBody(try await store.authorization(id))
                }
            }
        }
    }
}
