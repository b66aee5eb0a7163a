import Foundation
import HTTPTypes
import Market
import MarketStore
import OpenAPIRuntime
import PDXAPITypes
import Postgres
import PDXTokens

/// Entitlements, their tokens and the keys that sign them, usage metering and statements.
extension Handlers {
    func getJWKS(_ input: Operations.GetJWKS.Input) async throws -> Operations.GetJWKS.Output {
        let keys = try await store.publishedKeys()
        return .ok(.init(body: .json(.init(keys: keys.map { .init(kty: $0.kty, crv: $0.crv, x: $0.x, y: $0.y, kid: $0.kid, use: $0.use, alg: $0.alg) }))))
    }

    func listEntitlements(_ input: Operations.ListEntitlements.Input) async throws -> Operations.ListEntitlements.Output {
        let party = try Caller.required()
        let (after, limit) = try page(after: input.query.after, limit: input.query.limit)
        let items = try await store.entitlements(of: party.id, state: try input.query.state.map { try converted($0) }, after: after, limit: limit)
        return .ok(.init(body: .json(.init(items: try items.map(Components.Schemas.Entitlement.init), next: next(items, limit: limit, id: \.id)))))
    }

    func getEntitlement(_ input: Operations.GetEntitlement.Input) async throws -> Operations.GetEntitlement.Output {
        let party = try Caller.required()
        return .ok(.init(body: .json(try .init(try await store.entitlement(try uuid(input.path.id, field: "id"), for: party.id)))))
    }

    func createEntitlementToken(_ input: Operations.CreateEntitlementToken.Input) async throws -> Operations.CreateEntitlementToken.Output {
        let party = try Caller.required()
        let id = try uuid(input.path.id, field: "id")
        let lifetime = TimeInterval(input.body.value.ttlSeconds ?? Int(EntitlementToken.defaultLifetime))
        let issued = try await store.issueToken(entitlement: id, buyer: party.id, lifetime: lifetime, by: .party(party.id))
        return .created(.init(body: .json(.init(token: issued.token, tokenType: .bearer, keyId: issued.keyID, expiresAt: issued.expiresAt,
                                                entitlementId: id.lowercased, jwksUrl: "/.well-known/jwks.json"))))
    }

    func verifyEntitlementToken(_ input: Operations.VerifyEntitlementToken.Input) async throws -> Operations.VerifyEntitlementToken.Output {
        let party = try Caller.required()
        typealias Answer = Components.Schemas.TokenVerification
        let token = input.body.value.token
        guard (1...4096).contains(token.count) else { throw MarketInputError(field: "token", rule: "must be from 1 to 4096 characters") }
        let verifier = try await tokenVerifier()
        let claims: EntitlementClaims
        do throws(EntitlementToken.Refusal) {
            claims = try verifier.verify(token)
        } catch {
            return .ok(.init(body: .json(Answer(valid: false, reason: .init(rawValue: error.rawValue)))))
        }
        // Only the seller the token is for learns anything about its entitlement.
        guard claims.aud == party.id.lowercased, let id = claims.entitlementID else {
            return .ok(.init(body: .json(Answer(valid: false, reason: .notYourEntitlement))))
        }
        let entitlement = try await cachedEntitlement(id)
        guard entitlement.sellerID == party.id else { return .ok(.init(body: .json(Answer(valid: false, reason: .notYourEntitlement)))) }
        let reason = entitlement.refusal(at: Date()).flatMap(Answer.ReasonPayload.init(rawValue:))
        return .ok(.init(body: .json(Answer(valid: reason == nil, reason: reason, entitlement: try .init(entitlement), expiresAt: claims.expiresAt))))
    }

    /// The published keys' verifier: from the cache while it listens, else read now.
    func tokenVerifier() async throws -> TokenVerifier {
        let cache = configuration.accessCache
        if let verifier = cache?.verifier() { return verifier }
        let generation = cache?.generation()
        let verifier = TokenVerifier(keys: try await store.publishedKeys())
        if let cache, let generation { cache.store(verifier, readAt: generation) }
        return verifier
    }

    func cachedEntitlement(_ id: UUID) async throws -> Entitlement {
        let cache = configuration.accessCache
        if let found = cache?.entitlement(id) { return found }
        let generation = cache?.generation()
        let entitlement = try await store.entitlement(id)
        if let cache, let generation { cache.store(entitlement, readAt: generation) }
        return entitlement
    }

    func entitlementUsage(_ input: Operations.EntitlementUsage.Input) async throws -> Operations.EntitlementUsage.Output {
        let party = try Caller.required()
        let id = try uuid(input.path.id, field: "id")
        let today = CalendarDate(containing: try await store.now())
        let to = try input.query.to.map { try calendarDay($0, field: "to") } ?? today
        let from = try input.query.from.map { try calendarDay($0, field: "from") } ?? to.adding(days: -29)
        let days = try await store.dailyUsage(of: id, for: party.id, from: from, to: to)
        let entitlement = try await store.entitlement(id, for: party.id)
        return .ok(.init(body: .json(.init(entitlementId: id.lowercased, unitsUsed: entitlement.unitsUsed, unitsLeft: entitlement.unitsLeft,
                                           days: days.map { .init(day: $0.day.description, units: $0.units) }))))
    }

    func reportUsage(_ input: Operations.ReportUsage.Input) async throws -> Operations.ReportUsage.Output {
        let party = try Caller.required()
        guard party.kind == .operator || party.kind == .demander else { throw Problem.forbidden("only sellers report usage") }
        let events = try input.body.value.events.enumerated().map { index, event in
            UsageEvent(eventID: event.eventId, entitlementID: try uuid(event.entitlementId, field: "events[\(index)].entitlement_id"),
                       units: event.units, occurredAt: event.occurredAt)
        }
        let receipt = try await store.recordUsage(events, seller: party.id)
        return .ok(.init(body: .json(.init(
            accepted: receipt.accepted, duplicates: receipt.duplicates,
            refused: try receipt.refused.map { .init(index: $0.index, eventId: $0.eventID, reason: try converted($0.reason)) },
            entitlements: receipt.entitlements.map { .init(entitlementId: $0.entitlementID.lowercased, unitsUsed: $0.unitsUsed, unitsLeft: $0.unitsLeft) }))))
    }

    func listStatements(_ input: Operations.ListStatements.Input) async throws -> Operations.ListStatements.Output {
        let party = try Caller.required()
        let period = try input.query.period.map { try BillingPeriod($0) }
        let limit = input.query.limit ?? 100
        let statements = try await store.statements(of: party.id, period: period, after: input.query.after, limit: limit)
        let next = statements.count == limit ? statements.last?.number : nil
        // CSV when the client prefers it to JSON (Accept: text/csv).
        let preferred = input.headers.accept.filter { $0.contentType == .csv || $0.contentType == .json }
            .max { $0.quality.doubleValue < $1.quality.doubleValue || ($0.quality.doubleValue == $1.quality.doubleValue && $1.contentType == .json) }
        if preferred?.contentType == .csv {
            return .ok(.init(body: .csv(HTTPBody(Self.csv(statements)))))
        }
        return .ok(.init(body: .json(.init(items: try statements.map(Components.Schemas.Statement.init), next: next))))
    }

    /// One row per statement line: what an accountant's spreadsheet takes.
    static func csv(_ statements: [Statement]) -> String {
        func field(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var rows = ["number,period,kind,statement_id,adjusts,entitlement_id,buyer_id,seller_id,units,amount_fen,agency_share_fen,priced_at,issued_at,step,detail,line_amount_fen"]
        for s in statements {
            let head = ["\(s.number)", s.period.description, s.kind.rawValue, s.id.lowercased, s.adjusts?.lowercased ?? "", s.entitlementID.lowercased,
                        s.buyerID.lowercased, s.sellerID.lowercased, "\(s.units)", "\(s.amountFen)", "\(s.agencyShareFen)",
                        s.pricedAt.formatted(.iso8601), s.issuedAt.formatted(.iso8601)]
            for line in s.lines.isEmpty ? [Quote.Line(step: "", detail: "", amountFen: 0)] : s.lines {
                rows.append((head + [line.step, line.detail, "\(line.amountFen)"]).map(field).joined(separator: ","))
            }
        }
        return rows.joined(separator: "\r\n") + "\r\n"
    }
}

func calendarDay(_ text: String, field: String) throws(MarketInputError) -> CalendarDate {
    guard let day = CalendarDate(text) else { throw MarketInputError(field: field, rule: "must be a date YYYY-MM-DD") }
    return day
}

extension CalendarDate {
    init(containing date: Date) {
        let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        self = CalendarDate(year: parts.year ?? 2000, month: parts.month ?? 1, day: parts.day ?? 1)!
    }
}

extension Components.Schemas.Entitlement {
    init(_ e: Entitlement) throws {
        self.init(id: e.id.lowercased, orderId: e.orderID.lowercased, buyerId: e.buyerID.lowercased, sellerId: e.sellerID.lowercased,
                  productId: e.productID.lowercased, productVersion: e.productVersion, scenario: e.scenario, purpose: try converted(e.purpose),
                  chargeUnit: try converted(e.chargeUnit), metered: e.unitsGranted != nil, unitsGranted: e.unitsGranted, unitsUsed: e.unitsUsed,
                  unitsLeft: e.unitsLeft, startsAt: e.startsAt, endsAt: e.endsAt, state: try converted(e.state), stateReason: e.stateReason,
                  stateChangedAt: e.stateChangedAt)
    }
}

extension Components.Schemas.Statement {
    init(_ s: Statement) throws {
        self.init(id: s.id.lowercased, number: s.number, period: s.period.description, kind: try converted(s.kind), adjusts: s.adjusts?.lowercased,
                  entitlementId: s.entitlementID.lowercased, buyerId: s.buyerID.lowercased, sellerId: s.sellerID.lowercased,
                  agencyId: s.agencyID?.lowercased, units: s.units, amountFen: s.amountFen, agencyShareFen: s.agencyShareFen,
                  lines: s.lines.map { .init(step: $0.step, detail: $0.detail, amountFen: $0.amountFen) },
                  rules: s.rules.map { .init(id: $0.id, version: $0.version) }, pricedAt: s.pricedAt, reason: s.reason, issuedAt: s.issuedAt)
    }
}
