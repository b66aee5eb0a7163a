import Hummingbird
import Market
import MarketStore

extension MarketAPI {
    /// Orders, seen by their buyer and their product's operator. The operator accepts, rejects and
    /// delivers; the buyer cancels and confirms completion.
    static func addOrderRoutes(_ v1: RouterGroup<APIContext>, store: MarketStore) {
        v1.get("orders") { request, context -> Page<OrderBody> in
            let party = try context.requireParty()
            let (after, limit) = try page(request)
            return Page(try await store.orders(of: party.id, after: after, limit: limit).map(OrderBody.init), limit: limit, id: \.id)
        }
        v1.get("orders/:id") { _, context -> OrderBody in
            OrderBody(try await context.ownOrder(store).order)
        }
        let moves: [(String, OrderState, Bool)] = [
            ("accept", .accepted, true), ("reject", .rejected, true), ("deliver", .delivered, true),
            ("cancel", .cancelled, false), ("complete", .completed, false),
        ]
        for (action, next, bySeller) in moves {
            v1.post("orders/:id/\(action)") { request, context -> Response in
                try await context.post(request, as: Reason.self, status: .ok) { body, party in
                    let (order, seller) = try await context.ownOrder(store)
                    guard (bySeller ? seller : order.buyerID) == party.id else {
                        throw Problem.forbidden(bySeller ? "only the product's operator may \(action) an order" : "only the buyer may \(action) an order")
                    }
                    try await store.changeOrder(order.id, to: next, reason: body.reason, by: .party(party.id))
                    return OrderBody(try await store.order(order.id))
                }
            }
        }
    }
}
