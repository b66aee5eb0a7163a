import HTTPTypes
import Market
import MarketStore
import PDXAPITypes

/// The caller's webhook: where events are delivered, and the secret that signs them.
extension Handlers {
    func getWebhook(_ input: Operations.GetWebhook.Input) async throws -> Operations.GetWebhook.Output {
        let party = try Caller.required()
        return .ok(.init(body: .json(.init(url: try await store.webhook(of: party.id)?.url))))
    }

    func setWebhook(_ input: Operations.SetWebhook.Input) async throws -> Operations.SetWebhook.Output {
        let party = try Caller.required()
        // The URL's host was resolved and checked before the transaction opened (RequestTransaction).
        // (Should a request reach here unchecked, it is checked now, inside the transaction: slower, never wrong.)
        let url = if let prepared = PreparedWebhook.current { prepared.url } else {
            try await input.body.value.url.asyncMap { try await store.checkWebhook($0, policy: configuration.webhooks) }
        }
        let secret = try await store.setWebhook(party: party.id, url: url, by: .party(party.id))
        return .ok(.init(body: .json(.init(url: url?.url, secret: secret))))
    }

    func rotateWebhookSecret(_ input: Operations.RotateWebhookSecret.Input) async throws -> Operations.RotateWebhookSecret.Output {
        let party = try Caller.required()
        guard let secret = try await store.rotateWebhookSecret(party: party.id, by: .party(party.id)),
              let current = try await store.webhook(of: party.id) else {
            throw Problem(.conflict, code: "state_conflict", detail: "there is no webhook to rotate the secret of; set one first")
        }
        return .ok(.init(body: .json(.init(url: current.url, secret: secret))))
    }
}
