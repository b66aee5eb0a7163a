import Hummingbird
import Market
import MarketStore

extension MarketAPI {
    /// The caller's webhook: where events are delivered, and the secret that signs them.
    static func addWebhookRoutes(_ v1: RouterGroup<APIContext>, store: MarketStore, policy: WebhookPolicy) {
        v1.get("webhook") { _, context -> WebhookBody in
            let party = try context.requireParty()
            return WebhookBody(url: try await store.webhook(of: party.id)?.url, secret: nil)
        }
        v1.post("webhook") { request, context -> Response in
            // The URL's host was resolved and checked before the transaction opened (RequestTransaction).
            // (Should a request reach here unchecked, it is checked now, inside the transaction: slower, never wrong.)
            try await context.post(request, as: WebhookBody.self, status: .ok) { body, party in
                let url = if let prepared = PreparedWebhook.current { prepared.url } else {
                    try await body.url.asyncMap { try await store.checkWebhook($0, policy: policy) }
                }
                return WebhookBody(url: url?.url, secret: try await store.setWebhook(party: party.id, url: url, by: .party(party.id)))
            }
        }
        v1.post("webhook/rotate") { request, context -> Response in
            try await context.post(request, as: Reason.self, status: .ok) { _, party in
                guard let secret = try await store.rotateWebhookSecret(party: party.id, by: .party(party.id)),
                      let current = try await store.webhook(of: party.id) else {
                    throw Problem(.conflict, code: "state_conflict", detail: "there is no webhook to rotate the secret of; set one first")
                }
                return WebhookBody(url: current.url, secret: secret)
            }
        }
    }
}
