import Foundation
import Hummingbird
import Market
import MarketStore

/// A product: in the catalogue (`listed`), or as its operator sees it in any state.
struct ProductBody: ResponseEncodable {
    @LowercaseUUID var id: UUID
    var state: String
    var version: Int
    @LowercaseUUID var operatorId: UUID
    @LowercaseUUID var authorizationId: UUID
    var title: String
    var description: String
    var sector: String
    var regions: [String]
    var scenarios: [String]
    var tags: [String]
    var fields: [String]
    var deliveryModes: [String]
    var chargeUnit: String
    var listPriceFen: Int64
    /// The version announced to take effect after the notice period (a rise), or null.
    var pendingVersion: PendingVersionBody?

    struct PendingVersionBody: Encodable {
        var version: Int
        var effectiveAt: Date
        var listPriceFen: Int64
        var chargeUnit: String
    }

    init(_ product: ListedProduct) {
        self.init(id: product.id, state: .listed, version: product.version, operatorID: product.operatorID,
                  authorizationID: product.authorizationID, content: product.current, announced: product.announced)
    }

    init(_ product: StoredProduct) {
        self.init(id: product.id, state: product.state, version: product.version, operatorID: product.operatorID,
                  authorizationID: product.authorizationID, content: product.current, announced: product.announcement)
    }

    private init(id: UUID, state: ProductState, version: Int, operatorID: UUID, authorizationID: UUID, content: ProductVersion,
                 announced: AnnouncedVersion?) {
        pendingVersion = announced.map {
            PendingVersionBody(version: $0.version, effectiveAt: $0.effectiveAt, listPriceFen: $0.listPriceFen, chargeUnit: $0.chargeUnit.rawValue)
        }
        self.id = id
        self.state = state.rawValue
        self.version = version
        operatorId = operatorID
        authorizationId = authorizationID
        title = content.title
        description = content.description
        sector = content.sector
        regions = content.regions.map(\.value)
        scenarios = content.scenarios
        tags = content.tags
        fields = content.fields
        deliveryModes = content.deliveryModes.map(\.rawValue)
        chargeUnit = content.chargeUnit.rawValue
        listPriceFen = content.listPriceFen
    }

    /// `pending_version` is always present (null when nothing is announced).
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(_id, forKey: .id)
        try container.encode(state, forKey: .state)
        try container.encode(version, forKey: .version)
        try container.encode(_operatorId, forKey: .operatorId)
        try container.encode(_authorizationId, forKey: .authorizationId)
        try container.encode(title, forKey: .title)
        try container.encode(description, forKey: .description)
        try container.encode(sector, forKey: .sector)
        try container.encode(regions, forKey: .regions)
        try container.encode(scenarios, forKey: .scenarios)
        try container.encode(tags, forKey: .tags)
        try container.encode(fields, forKey: .fields)
        try container.encode(deliveryModes, forKey: .deliveryModes)
        try container.encode(chargeUnit, forKey: .chargeUnit)
        try container.encode(listPriceFen, forKey: .listPriceFen)
        try container.encode(pendingVersion, forKey: .pendingVersion)
    }

    enum CodingKeys: CodingKey {
        case id, state, version, operatorId, authorizationId, title, description, sector, regions, scenarios, tags, fields, deliveryModes
        case chargeUnit, listPriceFen, pendingVersion
    }
}

/// A demand as its demander sees it.
struct DemandBody: ResponseEncodable {
    @LowercaseUUID var id: UUID
    var state: String
    var title: String
    var description: String
    var sector: String
    var scenario: String
    var purpose: String
    var regions: [String]
    var fieldsWanted: [String]
    var tags: [String]
    var quantity: Int64
    var budgetFen: Int64
    var deliveryModes: [String]
    var expiresAt: Date

    init(_ demand: StoredDemand) {
        let request = demand.request
        id = demand.id
        state = demand.state.rawValue
        title = request.title
        description = request.description
        sector = request.sector
        scenario = request.scenario
        purpose = request.purpose.rawValue
        regions = request.regions.map(\.value)
        fieldsWanted = request.fieldsWanted
        tags = request.tags
        quantity = request.quantity
        budgetFen = request.budgetFen
        deliveryModes = request.deliveryModes.map(\.rawValue)
        expiresAt = request.expiresAt
    }
}

/// `POST /v1/demands`: a demand request, posted as a draft unless `open` is true.
struct NewDemandBody: Decodable {
    var title: String
    var description: String?
    var sector: String
    var scenario: String
    var purpose: String
    var regions: [String]
    var fieldsWanted: [String]
    var tags: [String]?
    @WholeNumber var quantity: Int64
    @WholeNumber var budgetFen: Int64
    var deliveryModes: [String]
    var expiresAt: Date
    var open: Bool?

    func request() throws -> DemandRequest {
        guard let purpose = Purpose(rawValue: purpose) else {
            throw MarketInputError(field: "purpose", rule: "must be one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return DemandRequest(title: title, description: description ?? "", sector: sector, scenario: scenario, purpose: purpose,
                             regions: try regions.map { code throws(MarketInputError) in try RegionCode(code, field: "regions") },
                             fieldsWanted: fieldsWanted, tags: tags ?? [], quantity: quantity, budgetFen: budgetFen,
                             deliveryModes: try deliveryModes.map(parseDeliveryMode),
                             expiresAt: expiresAt)
    }
}

/// The body of actions that may say why (all optional).
struct Reason: Decodable {
    var reason: String?
}

/// An order as its buyer sees it, with the quote it was placed at.
struct OrderBody: ResponseEncodable {
    @LowercaseUUID var id: UUID
    var state: String
    @LowercaseUUID var productId: UUID
    var productVersion: Int
    var matchId: String?
    var amountFen: Int64
    var quote: Quote

    init(_ order: StoredOrder) {
        id = order.id
        state = order.state.rawValue
        productId = order.productID
        productVersion = order.productVersion
        matchId = order.matchID?.uuidString.lowercased()
        amountFen = order.amountFen
        quote = order.quote
    }
}

/// Any encodable value as a JSON response, encoded as itself.
struct JSONBody<Value: Encodable & Sendable>: ResponseEncodable {
    var value: Value

    init(_ value: Value) { self.value = value }

    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

/// What a product offers: the body of `PUT /v1/products/{id}`, and of `POST /v1/products` with its authorization.
struct ProductContent: Decodable {
    var title: String
    var description: String?
    var sector: String
    var regions: [String]
    var scenarios: [String]
    var tags: [String]?
    var fields: [String]
    var deliveryModes: [String]
    var chargeUnit: String
    @WholeNumber var listPriceFen: Int64
    var sourceResourceIds: [UUID]

    func version() throws -> ProductVersion {
        guard let unit = ChargeUnit(rawValue: chargeUnit) else {
            throw MarketInputError(field: "charge_unit", rule: "must be one of \(ChargeUnit.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return ProductVersion(title: title, description: description ?? "", sector: sector,
                              regions: try regions.map { code throws(MarketInputError) in try RegionCode(code, field: "regions") },
                              scenarios: scenarios, tags: tags ?? [], fields: fields, deliveryModes: try deliveryModes.map(parseDeliveryMode),
                              chargeUnit: unit, listPriceFen: listPriceFen, sourceResourceIDs: sourceResourceIds)
    }
}

/// `POST /v1/products`: a draft under one of the operator's authorizations.
struct NewProductBody: Decodable {
    var authorizationId: UUID
    var content: ProductContent

    enum CodingKeys: CodingKey { case authorizationId }

    init(from decoder: any Decoder) throws {
        authorizationId = try decoder.container(keyedBy: CodingKeys.self).decode(UUID.self, forKey: .authorizationId)
        content = try ProductContent(from: decoder)
    }
}

func parseDeliveryMode(_ mode: String) throws(MarketInputError) -> DeliveryMode {
    guard let known = DeliveryMode(rawValue: mode) else {
        throw MarketInputError(field: "delivery_modes", rule: "must name api, file or sandbox, each at most once")
    }
    return known
}

/// A data resource as its agency sees it.
struct ResourceBody: ResponseEncodable {
    @LowercaseUUID var id: UUID
    @LowercaseUUID var agencyId: UUID
    var title: String
    var sector: String
    var regionCode: String
    var grade: String
    var personalInformation: Bool
    var deidentifiedAt: Date?

    init(_ resource: DataResource) {
        id = resource.id
        agencyId = resource.agencyID
        title = resource.title
        sector = resource.sector
        regionCode = resource.regionCode.value
        grade = resource.grade.rawValue
        personalInformation = resource.personalInformation
        deidentifiedAt = resource.deidentifiedAt
    }

    /// Optionals are written as null, so that every field is always present.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(_id, forKey: .id)
        try container.encode(_agencyId, forKey: .agencyId)
        try container.encode(title, forKey: .title)
        try container.encode(sector, forKey: .sector)
        try container.encode(regionCode, forKey: .regionCode)
        try container.encode(grade, forKey: .grade)
        try container.encode(personalInformation, forKey: .personalInformation)
        try container.encode(deidentifiedAt, forKey: .deidentifiedAt)
    }

    enum CodingKeys: CodingKey { case id, agencyId, title, sector, regionCode, grade, personalInformation, deidentifiedAt }
}

/// `POST /v1/resources`.
struct NewResourceBody: Decodable {
    var title: String
    var description: String?
    var sector: String
    var regionCode: String
    var grade: String
    var personalInformation: Bool?

    func resource() throws -> NewResource {
        guard let grade = ResourceGrade(rawValue: grade) else {
            throw MarketInputError(field: "grade", rule: "must be one of \(ResourceGrade.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return NewResource(title: title, description: description ?? "", sector: sector, regionCode: regionCode, grade: grade,
                           personalInformation: personalInformation ?? false)
    }
}

/// An authorization as its agency and its operator see it.
struct AuthorizationBody: ResponseEncodable {
    @LowercaseUUID var id: UUID
    @LowercaseUUID var agencyId: UUID
    @LowercaseUUID var operatorId: UUID
    var sectors: [String]
    var regions: [String]
    var scenarios: [String]
    var mode: String
    var validFrom: Date
    var validUntil: Date
    var state: String
    /// When the state last changed, and why (null when no reason was given).
    var stateChangedAt: Date?
    var stateReason: String?

    init(_ grant: Authorization) {
        id = grant.id
        agencyId = grant.agencyID
        operatorId = grant.operatorID
        sectors = grant.sectors
        regions = grant.regions.map(\.value)
        scenarios = grant.scenarios
        mode = grant.mode.rawValue
        validFrom = grant.validFrom
        validUntil = grant.validUntil
        state = grant.state.rawValue
        stateChangedAt = grant.stateChangedAt
        stateReason = grant.stateReason
    }

    /// Optionals are written as null, so that every field is always present.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(_id, forKey: .id)
        try container.encode(_agencyId, forKey: .agencyId)
        try container.encode(_operatorId, forKey: .operatorId)
        try container.encode(sectors, forKey: .sectors)
        try container.encode(regions, forKey: .regions)
        try container.encode(scenarios, forKey: .scenarios)
        try container.encode(mode, forKey: .mode)
        try container.encode(validFrom, forKey: .validFrom)
        try container.encode(validUntil, forKey: .validUntil)
        try container.encode(state, forKey: .state)
        try container.encode(stateChangedAt, forKey: .stateChangedAt)
        try container.encode(stateReason, forKey: .stateReason)
    }

    enum CodingKeys: CodingKey {
        case id, agencyId, operatorId, sectors, regions, scenarios, mode, validFrom, validUntil, state, stateChangedAt, stateReason
    }
}

/// `POST /v1/authorizations`: `valid_from` defaults to now.
struct NewAuthorizationBody: Decodable {
    var operatorId: UUID
    var sectors: [String]
    var regions: [String]
    var scenarios: [String]
    var mode: String
    var validFrom: Date?
    var validUntil: Date

    func authorization(agency: UUID) throws -> Authorization {
        guard let mode = AuthorizationMode(rawValue: mode) else {
            throw MarketInputError(field: "mode", rule: "must be one of \(AuthorizationMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return Authorization(agencyID: agency, operatorID: operatorId, sectors: sectors,
                             regions: try regions.map { code throws(MarketInputError) in try RegionCode(code, field: "regions") },
                             scenarios: scenarios, mode: mode, validFrom: validFrom ?? Date(), validUntil: validUntil)
    }
}

/// A webhook: its URL (null: none) and, only when it was just set or rotated, its signing secret.
struct WebhookBody: ResponseEncodable, Decodable {
    var url: String?
    var secret: String?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(url, forKey: .url)
        if let secret { try container.encode(secret, forKey: .secret) }
    }

    enum CodingKeys: CodingKey { case url, secret }
}
