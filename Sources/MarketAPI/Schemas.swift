import Foundation
import Market
import MarketStore
import PDXAPITypes

// The market's values as the contract's schemas, and the contract's request bodies as the market's
// inputs. The market and the contract name their enums' cases alike; a case one has and the other does
// not is a server error (`ContractMismatch`), never a silent substitute.

/// A value of one of the market's enums that the contract does not list (or the other way round).
struct ContractMismatch: Error, CustomStringConvertible {
    var description: String
}

/// `value` as the same-named case of another enum.
func converted<Target: RawRepresentable<String>>(_ value: some RawRepresentable<String>) throws -> Target {
    guard let target = Target(rawValue: value.rawValue) else { throw ContractMismatch(description: "\(Target.self) has no case \(value.rawValue)") }
    return target
}

func converted<Target: RawRepresentable<String>>(_ values: [some RawRepresentable<String>]) throws -> [Target] {
    try values.map { try converted($0) }
}

extension Components.Schemas.Product {
    init(_ product: ListedProduct) throws {
        try self.init(id: product.id, state: .listed, version: product.version, operatorID: product.operatorID,
                      authorizationID: product.authorizationID, content: product.current, announced: product.announced)
    }

    init(_ product: StoredProduct) throws {
        try self.init(id: product.id, state: product.state, version: product.version, operatorID: product.operatorID,
                      authorizationID: product.authorizationID, content: product.current, announced: product.announcement)
    }

    private init(id: UUID, state: ProductState, version: Int, operatorID: UUID, authorizationID: UUID, content: ProductVersion,
                 announced: AnnouncedVersion?) throws {
        self.init(
            id: id.lowercased, state: try converted(state), version: version, operatorId: operatorID.lowercased,
            authorizationId: authorizationID.lowercased, title: content.title, description: content.description, sector: content.sector,
            regions: content.regions.map(\.value), scenarios: content.scenarios, tags: content.tags, fields: content.fields,
            deliveryModes: try converted(content.deliveryModes), chargeUnit: try converted(content.chargeUnit),
            listPriceFen: content.listPriceFen,
            pendingVersion: try announced.map {
                .init(version: $0.version, effectiveAt: $0.effectiveAt, listPriceFen: $0.listPriceFen, chargeUnit: try converted($0.chargeUnit))
            })
    }
}

extension Components.Schemas.ProductContent {
    /// The product's content as the market validates it.
    func version() throws -> ProductVersion {
        ProductVersion(title: title, description: description ?? "", sector: sector, regions: try regionCodes(regions, field: "regions"),
                       scenarios: scenarios, tags: tags ?? [], fields: fields, deliveryModes: try converted(deliveryModes),
                       chargeUnit: try converted(chargeUnit), listPriceFen: listPriceFen,
                       sourceResourceIDs: try (sourceResourceIds ?? []).enumerated().map { index, text in
                           try uuid(text, field: "source_resource_ids[\(index)]")
                       })
    }
}

extension Components.Schemas.Demand {
    init(_ demand: StoredDemand) throws {
        try self.init(id: demand.id, request: demand.request, state: demand.state, showIdentity: demand.showIdentity)
    }

    init(id: UUID, request: DemandRequest, state: DemandState, showIdentity: Bool) throws {
        self.init(id: id.lowercased, state: try converted(state), title: request.title, description: request.description,
                  sector: request.sector, scenario: request.scenario, purpose: try converted(request.purpose),
                  regions: request.regions.map(\.value), fieldsWanted: request.fieldsWanted, tags: request.tags,
                  quantity: Int(request.quantity), budgetFen: request.budgetFen, deliveryModes: try converted(request.deliveryModes),
                  expiresAt: request.expiresAt, showIdentity: showIdentity)
    }
}

extension Components.Schemas.NewDemand {
    /// The demand request as the market validates it.
    func request() throws -> DemandRequest {
        DemandRequest(title: title, description: description ?? "", sector: sector, scenario: scenario, purpose: try converted(purpose),
                      regions: try regionCodes(regions, field: "regions"), fieldsWanted: fieldsWanted, tags: tags ?? [],
                      quantity: quantity, budgetFen: budgetFen, deliveryModes: try converted(deliveryModes), expiresAt: expiresAt)
    }
}

extension Components.Schemas.Match {
    init(_ match: MatchSummary) throws {
        self.init(id: match.id.lowercased, createdAt: match.createdAt, state: try converted(match.state), stateChangedAt: match.stateChangedAt,
                  score: match.score, quoteFen: match.quoteFen, sector: match.sector, demandId: match.demandID.lowercased,
                  demandTitle: match.demandTitle, demanderId: match.demanderID.lowercased, demanderName: match.demanderName,
                  productId: match.productID.lowercased, productVersion: match.productVersion, productTitle: match.productTitle,
                  operatorId: match.operatorID.lowercased, operatorName: match.operatorName,
                  topReason: match.topReason.map { .init(component: $0.component, value: $0.value, weight: $0.weight, detail: $0.detail) },
                  manual: match.manual)
    }
}

extension Components.Schemas.Quote {
    init(_ quote: Quote) {
        self.init(quantity: Int(quote.quantity), amountFen: quote.amountFen,
                  lines: quote.lines.map { .init(step: $0.step, detail: $0.detail, amountFen: Int($0.amountFen)) },
                  rules: quote.rules.map { .init(id: Int($0.id), version: $0.version) })
    }
}

extension Components.Schemas.Order {
    init(_ order: StoredOrder) throws {
        self.init(id: order.id.lowercased, state: try converted(order.state), productId: order.productID.lowercased,
                  productVersion: order.productVersion, matchId: order.matchID?.lowercased, amountFen: order.amountFen, quote: .init(order.quote),
                  quantity: order.quantity, purpose: try converted(order.purpose), scenario: order.scenario, direct: order.matchID == nil,
                  entitlementStartsAt: order.entitlementStartsAt, entitlementEndsAt: order.entitlementEndsAt)
    }
}

extension Components.Schemas.Resource {
    init(_ resource: DataResource) throws {
        self.init(id: resource.id.lowercased, agencyId: resource.agencyID.lowercased, title: resource.title, sector: resource.sector,
                  regionCode: resource.regionCode.value, grade: try converted(resource.grade), personalInformation: resource.personalInformation,
                  deidentifiedAt: resource.deidentifiedAt,
                  deidentification: resource.deidentification.map {
                      .init(method: $0.method, performedBy: $0.performedBy, performedAt: $0.performedAt, evidence: $0.evidence)
                  })
    }
}

extension Components.Schemas.NewResource {
    func resource() throws -> NewResource {
        NewResource(title: title, description: description ?? "", sector: sector, regionCode: regionCode, grade: try converted(grade),
                    personalInformation: personalInformation ?? false)
    }
}

extension Components.Schemas.Authorization {
    init(_ grant: Authorization) throws {
        self.init(id: grant.id.lowercased, agencyId: grant.agencyID.lowercased, operatorId: grant.operatorID.lowercased, sectors: grant.sectors,
                  regions: grant.regions.map(\.value), scenarios: grant.scenarios, mode: try converted(grant.mode), validFrom: grant.validFrom,
                  validUntil: grant.validUntil, state: try converted(grant.state), stateChangedAt: grant.stateChangedAt,
                  stateReason: grant.stateReason, agencySharePermille: grant.agencySharePermille)
    }
}

extension Components.Schemas.NewAuthorization {
    /// The grant as the market validates it; `valid_from` defaults to now.
    func authorization(agency: UUID, holder: UUID) throws -> Authorization {
        var grant = Authorization(agencyID: agency, operatorID: holder, sectors: sectors, regions: try regionCodes(regions, field: "regions"),
                                  scenarios: scenarios, mode: try converted(mode), validFrom: validFrom ?? Date(), validUntil: validUntil)
        grant.agencySharePermille = agencySharePermille ?? 0
        return grant
    }
}

func regionCodes(_ codes: [String], field: String) throws(MarketInputError) -> [RegionCode] {
    try codes.map { code throws(MarketInputError) in try RegionCode(code, field: field) }
}
