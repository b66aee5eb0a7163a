import Hummingbird
import Market
import MarketStore

extension MarketAPI {
    /// The caller's webhook: where events are delivered, and the secret that signs them.
    static func addWebhookRoutes(_ v1: RouterGroup<APIContext>, store: MarketStore) {
        v1.get("webhook") { _, context -> WebhookBody in
            let party = try context.requireParty()
            return WebhookBody(url: try await store.webhook(of: party.id)?.url, secret: nil)
        }
        v1.post("webhook") { request, context -> Response in
            // The URL's host was resolved and checked before the transaction opened (RequestTransaction).
            try await context.post(request, as: WebhookBody.self, status: .ok, store: store) { _, party in
                guard let prepared = PreparedWebhook.current else {
                    throw Problem(.internalServerError, code: "internal", detail: "the webhook URL was not checked before the transaction")
                }
                return WebhookBody(url: prepared.url?.url, secret: try await store.setWebhook(party: party.id, url: prepared.url, by: .party(party.id)))
            }
        }
        v1.post("webhook/rotate") { request, context -> Response in
            try await context.post(request, as: Reason.self, status: .ok, store: store) { _, party in
                guard let secret = try await store.rotateWebhookSecret(party: party.id, by: .party(party.id)),
                      let current = try await store.webhook(of: party.id) else {
                    throw Problem(.conflict, code: "state_conflict", detail: "there is no webhook to rotate the secret of; set one first")
                }
                return WebhookBody(url: current.url, secret: secret)
            }
        }
    }
}
