import Foundation
import Hummingbird
import Market
import MarketStore

extension MarketAPI {
    /// Demanders' (and operators') demand requests and the matches proposed for them.
    static func addDemandRoutes(_ v1: RouterGroup<APIContext>, store: MarketStore) {
        v1.post("demands") { request, context -> Response in
            try await context.post(request, as: NewDemandBody.self, location: { (demand: DemandBody) in "/v1/demands/\(demand.id.uuidString.lowercased())" }) { body, party in
                guard party.kind == .demander || party.kind == .operator else {
                    throw Problem.forbidden("only demanders and operators post demands")
                }
                let request = try body.request()
                let open = body.open ?? false
                let id = try await store.postDemand(request, demander: party.id, open: open, by: .party(party.id))
                // As stored: the request validated, nothing added by the database but the id and state.
                return DemandBody(StoredDemand(id: id, demanderID: party.id, request: request, state: open ? .open : .draft))
            }
        }
        v1.get("demands") { request, context -> Page<DemandBody> in
            let party = try context.requireParty()
            let (after, limit) = try page(request)
            return Page(try await store.demands(of: party.id, after: after, limit: limit).map(DemandBody.init), limit: limit, id: \.id)
        }
        v1.get("demands/:id") { _, context -> DemandBody in
            DemandBody(try await context.ownDemand(store))
        }
        // A draft is replaced as a whole; with `"open": true` it is opened too.
        v1.put("demands/:id") { request, context -> Response in
            try await context.put(request, as: NewDemandBody.self) { body, party in
                let demand = try await context.ownDemand(store)
                try await store.updateDraftDemand(demand.id, with: try body.request(), by: .party(party.id))
                if body.open == true { try await store.changeDemand(demand.id, to: .open, by: .party(party.id)) }
                return DemandBody(try await store.demand(demand.id))
            }
        }
        v1.get("demands/:id/matches") { _, context -> Page<MatchSummary> in
            let demand = try await context.ownDemand(store)
            return Page(items: try await store.matches(MatchFilter(demandID: demand.id, limit: MatchFilter.maximumLimit)), next: nil)
        }
        for (action, next) in [("open", DemandState.open), ("cancel", .cancelled)] {
            v1.post("demands/:id/\(action)") { request, context -> Response in
                try await context.post(request, as: Reason.self, status: .ok) { body, party in
                    let demand = try await context.ownDemand(store)
                    try await store.changeDemand(demand.id, to: next, by: .party(party.id), reason: body.reason)
                    return DemandBody(try await store.demand(demand.id))
                }
            }
        }
        v1.post("demands/:id/matches/:match/accept") { request, context -> Response in
            try await context.post(request, as: Reason.self, location: { (order: OrderBody) in "/v1/orders/\(order.id.uuidString.lowercased())" }) { _, party in
                let match = try await context.ownMatch(store)
                return OrderBody(try await store.accept(match: match, buyer: party.id, by: .party(party.id)))
            }
        }
        v1.post("demands/:id/matches/:match/decline") { request, context -> Response in
            try await context.post(request, as: Reason.self, status: .ok) { body, party in
                let match = try await context.ownMatch(store)
                try await store.decline(match: match, buyer: party.id, reason: body.reason, by: .party(party.id))
                return Status(status: "declined")
            }
        }
    }
}
