import Foundation
import Market
import MarketStore
import PDXAPITypes

/// Orders, seen by their buyer and their product's operator. The operator accepts, rejects and
/// delivers; the buyer cancels and confirms completion.
extension Handlers {
    func listOrders(_ input: Operations.ListOrders.Input) async throws -> Operations.ListOrders.Output {
        let (items, next) = try await ownPage(after: input.query.after, limit: input.query.limit, store.orders(of:after:limit:), id: \.id,
                                              as: Components.Schemas.Order.init)
        return .ok(.init(body: .json(.init(items: items, next: next))))
    }

    func getOrder(_ input: Operations.GetOrder.Input) async throws -> Operations.GetOrder.Output {
        .ok(.init(body: .json(try .init(try await ownOrder(input.path.id).order))))
    }

    func acceptOrder(_ input: Operations.AcceptOrder.Input) async throws -> Operations.AcceptOrder.Output {
        .ok(.init(body: .json(try await moveOrder(input.path.id, "accept", to: .accepted, bySeller: true, reason: input.body.reason))))
    }

    func rejectOrder(_ input: Operations.RejectOrder.Input) async throws -> Operations.RejectOrder.Output {
        .ok(.init(body: .json(try await moveOrder(input.path.id, "reject", to: .rejected, bySeller: true, reason: input.body.reason))))
    }

    func deliverOrder(_ input: Operations.DeliverOrder.Input) async throws -> Operations.DeliverOrder.Output {
        .ok(.init(body: .json(try await moveOrder(input.path.id, "deliver", to: .delivered, bySeller: true, reason: input.body.reason))))
    }

    func cancelOrder(_ input: Operations.CancelOrder.Input) async throws -> Operations.CancelOrder.Output {
        .ok(.init(body: .json(try await moveOrder(input.path.id, "cancel", to: .cancelled, bySeller: false, reason: input.body.reason))))
    }

    func completeOrder(_ input: Operations.CompleteOrder.Input) async throws -> Operations.CompleteOrder.Output {
        .ok(.init(body: .json(try await moveOrder(input.path.id, "complete", to: .completed, bySeller: false, reason: input.body.reason))))
    }

    /// The order named `id` with its seller, if the caller is its buyer or seller (else a 404).
    private func ownOrder(_ text: String) async throws -> (order: StoredOrder, seller: UUID, party: Party) {
        let party = try Caller.required()
        let id = try uuid(text, field: "id")
        let order = try await store.order(id)
        let seller = try await store.seller(of: order)
        guard order.buyerID == party.id || seller == party.id else { throw MarketNotFound("order", id) }
        return (order, seller, party)
    }

    private func moveOrder(_ id: String, _ action: String, to next: OrderState, bySeller: Bool, reason: String?) async throws -> Components.Schemas.Order {
        let (order, seller, party) = try await ownOrder(id)
        guard (bySeller ? seller : order.buyerID) == party.id else {
            throw Problem.forbidden(bySeller ? "only the product's operator may \(action) an order" : "only the buyer may \(action) an order")
        }
        try await store.changeOrder(order.id, to: next, reason: reason, by: .party(party.id))
        return try .init(try await store.order(order.id))
    }
}
