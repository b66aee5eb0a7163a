import Foundation
import Market
import MarketStore
import PDXAPITypes

/// The demand board and its follows, agencies' unmet demand, operators' funnels, direct purchase,
/// re-development and lineage, and the histories of demands, authorizations and product versions.
extension Handlers {
    // MARK: The demand board

    func listBoard(_ input: Operations.ListBoard.Input) async throws -> Operations.ListBoard.Output {
        let party = try Caller.required()
        let parameters = input.query
        let (after, limit) = try page(after: parameters.after, limit: parameters.limit)
        let query = BoardQuery(sector: parameters.sector, region: try parameters.region.map { code throws(MarketInputError) in try RegionCode(code, field: "region") },
                               scenario: parameters.scenario, purpose: try parameters.purpose.map { try converted($0) }, text: parameters.q)
        let demands = try await store.board(of: party, query: query, after: after, limit: limit)
        return .ok(.init(body: .json(.init(items: try demands.map(Components.Schemas.BoardDemand.init), next: next(demands, limit: limit, id: \.id)))))
    }

    func getBoardDemand(_ input: Operations.GetBoardDemand.Input) async throws -> Operations.GetBoardDemand.Output {
        .ok(.init(body: .json(try .init(try await boardDemand(input.path.id)))))
    }

    func proposeByHand(_ input: Operations.ProposeByHand.Input) async throws -> Operations.ProposeByHand.Output {
        let party = try Caller.required()
        guard party.kind == .operator else { throw Problem.forbidden("only operators propose their products") }
        let demand = try uuid(input.path.id, field: "id")
        let product = try uuid(input.body.value.productId, field: "product_id")
        let match = try await store.proposeByHand(demand: demand, product: product, operator: party.id, by: .party(party.id))
        // Not the `Match` a demander reads: that names the demander, which the board may not.
        let detail = try await store.matchDetail(match)
        let summary = detail.summary
        return .created(.init(body: .json(.init(id: summary.id.lowercased, demandId: summary.demandID.lowercased, productId: summary.productID.lowercased,
                                                productVersion: summary.productVersion, state: try converted(summary.state), score: summary.score,
                                                quoteFen: summary.quoteFen, quote: .init(detail.quote), manual: summary.manual,
                                                createdAt: summary.createdAt))))
    }

    func listFollows(_ input: Operations.ListFollows.Input) async throws -> Operations.ListFollows.Output {
        let party = try Caller.required()
        guard party.kind == .operator else { throw Problem.forbidden("only operators follow the demand board") }
        return .ok(.init(body: .json(.init(items: try await store.follows(of: party.id).map(Components.Schemas.Follow.init)))))
    }

    func follow(_ input: Operations.Follow.Input) async throws -> Operations.Follow.Output {
        let party = try Caller.required()
        guard party.kind == .operator else { throw Problem.forbidden("only operators follow the demand board") }
        let body = input.body.value
        let query = BoardQuery(sector: body.sector, region: try body.region.map { code throws(MarketInputError) in try RegionCode(code, field: "region") },
                               scenario: body.scenario, purpose: try body.purpose.map { payload throws -> Purpose in try converted(payload) })
        return .created(.init(body: .json(.init(try await store.follow(query, operator: party.id, by: .party(party.id))))))
    }

    func unfollow(_ input: Operations.Unfollow.Input) async throws -> Operations.Unfollow.Output {
        let party = try Caller.required()
        try await store.unfollow(try uuid(input.path.id, field: "id"), operator: party.id, by: .party(party.id))
        return .ok(.init(body: .json(.init(status: "unfollowed"))))
    }

    func listGaps(_ input: Operations.ListGaps.Input) async throws -> Operations.ListGaps.Output {
        let party = try Caller.required()
        guard party.kind == .agency else { throw Problem.forbidden("only agencies read the unmet demand of their sectors and regions") }
        let gaps = try await store.demandGaps(since: input.query.since, sector: input.query.sector, agency: party.id, limit: input.query.limit ?? 200)
        return .ok(.init(body: .json(.init(items: try gaps.map(Components.Schemas.Gap.init)))))
    }

    /// A demand on the caller's board (any other does not exist for it).
    private func boardDemand(_ text: String) async throws -> DemandOnBoard {
        let party = try Caller.required()
        let id = try uuid(text, field: "id")
        guard let demand = try await store.board(of: party, query: BoardQuery(), only: id).first else { throw MarketNotFound("demand", id) }
        return demand
    }

    // MARK: Operators' funnels, versions and lineage

    func productInsights(_ input: Operations.ProductInsights.Input) async throws -> Operations.ProductInsights.Output {
        let party = try Caller.required()
        let id = try uuid(input.path.id, field: "id")
        guard try await store.product(id).operatorID == party.id else { throw MarketNotFound("product", id) }
        let to = try input.query.to.map { try day($0, field: "to") } ?? Date()
        let from = try input.query.from.map { try day($0, field: "from") } ?? to - 29 * 86_400
        let days = try await store.insights(of: id, from: from, to: to)
        var totals = Components.Schemas.ProductDay(day: days.last?.day ?? "", proposals: 0, accepted: 0, declined: 0, withdrawn: 0, orders: 0, revenueFen: 0)
        for day in days {
            totals.proposals += day.proposals
            totals.accepted += day.accepted
            totals.declined += day.declined
            totals.withdrawn += day.withdrawn
            totals.orders += day.orders
            totals.revenueFen += day.revenueFen
        }
        return .ok(.init(body: .json(.init(productId: id.lowercased, from: days.first?.day ?? "", to: days.last?.day ?? "",
                                           days: days.map(Components.Schemas.ProductDay.init), totals: totals))))
    }

    func productLineage(_ input: Operations.ProductLineage.Input) async throws -> Operations.ProductLineage.Output {
        let id = try await visibleProduct(input.path.id).id
        let lineage = try await store.lineage(of: id)
        return .ok(.init(body: .json(.init(productId: id.lowercased, sources: try lineage.sources.map(Components.Schemas.LineageProduct.init),
                                           derived: try lineage.derived.map(Components.Schemas.LineageProduct.init)))))
    }

    func productVersions(_ input: Operations.ProductVersions.Input) async throws -> Operations.ProductVersions.Output {
        let (id, own) = try await visibleProduct(input.path.id)
        let versions = try await store.productVersions(id, publishedOnly: !own)
        return .ok(.init(body: .json(.init(productId: id.lowercased, items: try versions.map(Components.Schemas.ProductVersionRecord.init)))))
    }

    /// A product the caller may read about: listed (anyone), or its own (in any state).
    private func visibleProduct(_ text: String) async throws -> (id: UUID, own: Bool) {
        let party = try Caller.required()
        let id = try uuid(text, field: "id")
        let product = try await store.product(id)
        guard product.operatorID == party.id || product.state == .listed else { throw MarketNotFound("product", id) }
        return (id, product.operatorID == party.id)
    }

    // MARK: Direct purchase and re-development

    func placeOrder(_ input: Operations.PlaceOrder.Input) async throws -> Operations.PlaceOrder.Output {
        let party = try Caller.required()
        guard party.kind == .demander || party.kind == .operator else { throw Problem.forbidden("only demanders and operators buy products") }
        guard input.headers.idempotencyKey != nil else {
            throw MarketInputError(field: "Idempotency-Key", rule: "is required for a direct purchase (a retry must not buy twice)")
        }
        let body = input.body.value
        let order = try await store.order(product: try uuid(body.productId, field: "product_id"), quantity: body.quantity,
                                          purpose: try converted(body.purpose), buyer: party.id, scenario: body.scenario,
                                          maximumFen: body.maxAmountFen, by: .party(party.id))
        return .created(.init(headers: .init(location: "/v1/orders/\(order.id.lowercased)"), body: .json(try .init(order))))
    }

    func registerRedeveloper(_ input: Operations.RegisterRedeveloper.Input) async throws -> Operations.RegisterRedeveloper.Output {
        let party = try Caller.required()
        let since = try await store.registerRedeveloper(party.id, by: .party(party.id))
        return .ok(.init(body: .json(.init(partyId: party.id.lowercased, since: since))))
    }

    // MARK: Histories and de-identification

    func demandHistory(_ input: Operations.DemandHistory.Input) async throws -> Operations.DemandHistory.Output {
        let party = try Caller.required()
        let id = try uuid(input.path.id, field: "id")
        guard try await store.demand(id).demanderID == party.id else { throw MarketNotFound("demand", id) }
        let stays = try await store.demandHistory(id)
        return .ok(.init(body: .json(.init(demandId: id.lowercased, stays: try stays.map(Components.Schemas.DemandStay.init)))))
    }

    func authorizationHistory(_ input: Operations.AuthorizationHistory.Input) async throws -> Operations.AuthorizationHistory.Output {
        let party = try Caller.required()
        let id = try uuid(input.path.id, field: "id")
        let grant = try await store.authorization(id)
        guard grant.agencyID == party.id || grant.operatorID == party.id else { throw MarketNotFound("authorization", id) }
        let changes = try await store.authorizationHistory(id)
        return .ok(.init(body: .json(.init(authorizationId: id.lowercased, changes: try changes.map(Components.Schemas.AuthorizationStateChange.init)))))
    }

    func recordDeidentification(_ input: Operations.RecordDeidentification.Input) async throws -> Operations.RecordDeidentification.Output {
        let party = try Caller.required()
        guard party.kind == .agency else { throw Problem.forbidden("only the agency that registered a resource records its de-identification") }
        let id = try uuid(input.path.id, field: "id")
        let resource = try await store.recordDeidentification(try await input.body.value.step(store), of: id, agency: party.id, by: .party(party.id))
        return .ok(.init(body: .json(try .init(resource))))
    }
}

/// A `format: date` value (YYYY-MM-DD, a UTC day) as the instant it starts.
func day(_ text: String, field: String) throws(MarketInputError) -> Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
    guard text.count == 10, parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
          let date = calendar.date(from: DateComponents(year: year, month: month, day: day)),
          calendar.dateComponents([.year, .month, .day], from: date) == DateComponents(year: year, month: month, day: day)
    else { throw MarketInputError(field: field, rule: "must be a date YYYY-MM-DD") }
    return date
}

extension Components.Schemas.Deidentification {
    /// The step as the market records it; performed now (the database's clock, which checks it) unless
    /// `performed_at` says when.
    func step(_ store: MarketStore) async throws -> DeidentificationStep {
        let at: Date
        if let performedAt { at = performedAt } else { at = try await store.now() }
        return DeidentificationStep(method: method, performedBy: performedBy, performedAt: at, evidence: evidence)
    }
}

extension Components.Schemas.BoardDemand {
    init(_ demand: DemandOnBoard) throws {
        self.init(demand: try .init(id: demand.id, request: demand.request, state: demand.state, showIdentity: demand.demander != nil),
                  openedAt: demand.openedAt, ageDays: max(0, Int(Date().timeIntervalSince(demand.openedAt) / 86_400)),
                  proposals: demand.proposals, demander: demand.demander.map { .init(id: $0.id.lowercased, name: $0.name) })
    }
}

extension Components.Schemas.Follow {
    init(_ follow: BoardFollow) {
        self.init(id: follow.id.lowercased, sector: follow.query.sector, region: follow.query.region?.value, scenario: follow.query.scenario,
                  purpose: follow.query.purpose?.rawValue, createdAt: follow.createdAt)
    }
}

extension Components.Schemas.Gap {
    init(_ gap: DemandGap) throws {
        self.init(sector: gap.sector, sectorName: gap.sectorName, scenario: gap.scenario, regions: gap.regions, fieldsWanted: gap.fieldsWanted,
                  demands: gap.demands, demanders: gap.demanders, open: gap.open, expired: gap.expired, cancelled: gap.cancelled,
                  totalBudgetFen: gap.totalBudgetFen, oldest: gap.oldest, diagnosis: try converted(gap.diagnosis), missingFields: gap.missingFields,
                  listedInSector: gap.listedInSector, listedInRegion: gap.listedInRegion, cheapestQuoteFen: gap.cheapestQuoteFen,
                  examples: gap.examples)
    }
}

extension Components.Schemas.ProductDay {
    init(_ day: FunnelDay) {
        self.init(day: day.day, proposals: day.proposals, accepted: day.accepted, declined: day.declined, withdrawn: day.withdrawn,
                  orders: day.orders, revenueFen: day.revenueFen)
    }
}

extension Components.Schemas.LineageProduct {
    init(_ product: LineageEntry) throws {
        self.init(productId: product.id.lowercased, version: product.version, title: product.title, sellerId: product.sellerID.lowercased,
                  sellerName: product.sellerName, state: try converted(product.state))
    }
}

extension Components.Schemas.ProductVersionRecord {
    init(_ record: VersionRecord) throws {
        self.init(version: record.version, title: record.title, chargeUnit: try converted(record.chargeUnit), listPriceFen: record.listPriceFen,
                  createdAt: record.createdAt, effectiveAt: record.effectiveAt, announcedFor: record.announcedFor, current: record.current)
    }
}

extension Components.Schemas.DemandStay {
    init(_ stay: StateStay) throws {
        self.init(state: try converted(stay.state), enteredAt: stay.enteredAt, leftAt: stay.leftAt, seconds: stay.seconds)
    }
}

extension Components.Schemas.AuthorizationStateChange {
    init(_ change: AuthorizationChangeRecord) throws {
        self.init(from: try change.from.map { try converted($0) }, to: try converted(change.to), reason: change.reason, actor: change.actor, at: change.at)
    }
}
