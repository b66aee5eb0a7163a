import Foundation
import Market
import MarketStore
import PDXAPITypes

/// Demanders' (and operators') demand requests and the matches proposed for them.
extension Handlers {
    func postDemand(_ input: Operations.PostDemand.Input) async throws -> Operations.PostDemand.Output {
        let party = try Caller.required()
        guard party.kind == .demander || party.kind == .operator else { throw Problem.forbidden("only demanders and operators post demands") }
        let body = input.body.value
        let request = try body.request()
        let open = body.open ?? false
        let shown = body.showIdentity ?? false
        let id = try await store.postDemand(request, demander: party.id, open: open, showIdentity: shown, by: .party(party.id))
        // As stored: the request validated, nothing added by the database but the id and state.
        let demand = StoredDemand(id: id, demanderID: party.id, request: request, state: open ? .open : .draft, showIdentity: shown)
        return .created(.init(headers: .init(location: "/v1/demands/\(id.lowercased)"), body: .json(try .init(demand))))
    }

    func listDemands(_ input: Operations.ListDemands.Input) async throws -> Operations.ListDemands.Output {
        let (items, next) = try await ownPage(after: input.query.after, limit: input.query.limit, store.demands(of:after:limit:), id: \.id,
                                              as: Components.Schemas.Demand.init)
        return .ok(.init(body: .json(.init(items: items, next: next))))
    }

    func getDemand(_ input: Operations.GetDemand.Input) async throws -> Operations.GetDemand.Output {
        .ok(.init(body: .json(try .init(try await ownDemand(input.path.id).demand))))
    }

    /// A draft is replaced as a whole; with `"open": true` it is opened too.
    func updateDemand(_ input: Operations.UpdateDemand.Input) async throws -> Operations.UpdateDemand.Output {
        let (demand, party) = try await ownDemand(input.path.id)
        let body = input.body.value
        try await store.updateDraftDemand(demand.id, with: try body.request(), showIdentity: body.showIdentity ?? false, by: .party(party.id))
        if body.open == true { try await store.changeDemand(demand.id, to: .open, by: .party(party.id)) }
        return .ok(.init(body: .json(try .init(try await store.demand(demand.id)))))
    }

    func openDemand(_ input: Operations.OpenDemand.Input) async throws -> Operations.OpenDemand.Output {
        .ok(.init(body: .json(try await moveDemand(input.path.id, to: .open, reason: input.body.reason))))
    }

    func cancelDemand(_ input: Operations.CancelDemand.Input) async throws -> Operations.CancelDemand.Output {
        .ok(.init(body: .json(try await moveDemand(input.path.id, to: .cancelled, reason: input.body.reason))))
    }

    func listDemandMatches(_ input: Operations.ListDemandMatches.Input) async throws -> Operations.ListDemandMatches.Output {
        let (demand, _) = try await ownDemand(input.path.id)
        let matches = try await store.matches(MatchFilter(demandID: demand.id, limit: MatchFilter.maximumLimit))
        return .ok(.init(body: .json(.init(items: try matches.map(Components.Schemas.Match.init), next: nil))))
    }

    func acceptMatch(_ input: Operations.AcceptMatch.Input) async throws -> Operations.AcceptMatch.Output {
        let (match, party) = try await ownMatch(input.path.id, input.path.match)
        let order = try await store.accept(match: match, buyer: party.id, by: .party(party.id))
        return .created(.init(headers: .init(location: "/v1/orders/\(order.id.lowercased)"), body: .json(try .init(order))))
    }

    func declineMatch(_ input: Operations.DeclineMatch.Input) async throws -> Operations.DeclineMatch.Output {
        let (match, party) = try await ownMatch(input.path.id, input.path.match)
        try await store.decline(match: match, buyer: party.id, reason: input.body.reason, by: .party(party.id))
        return .ok(.init(body: .json(.init(status: "declined"))))
    }

    /// The demand named `id`, if it is the caller's (anyone else's is a 404).
    private func ownDemand(_ text: String) async throws -> (demand: StoredDemand, party: Party) {
        let party = try Caller.required()
        let id = try uuid(text, field: "id")
        let demand = try await store.demand(id)
        guard demand.demanderID == party.id else { throw MarketNotFound("demand", id) }
        return (demand, party)
    }

    /// The match named `match`, if it belongs to the caller's demand named `id`.
    private func ownMatch(_ demandID: String, _ text: String) async throws -> (UUID, Party) {
        let match = try uuid(text, field: "match")
        let (demand, party) = try await ownDemand(demandID)
        guard try await store.matches(MatchFilter(demandID: demand.id, limit: MatchFilter.maximumLimit)).contains(where: { $0.id == match }) else {
            throw MarketNotFound("match", match)
        }
        return (match, party)
    }

    private func moveDemand(_ id: String, to next: DemandState, reason: String?) async throws -> Components.Schemas.Demand {
        let (demand, party) = try await ownDemand(id)
        try await store.changeDemand(demand.id, to: next, by: .party(party.id), reason: reason)
        return try .init(try await store.demand(demand.id))
    }
}
