import Foundation
import Hummingbird
import Market
import MarketStore

/// A product of the public catalogue.
struct ProductBody: ResponseEncodable {
    var id: UUID
    var version: Int
    var operatorId: UUID
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

    init(_ product: StoredProduct) {
        let version = product.current
        id = product.id
        self.version = product.version
        operatorId = product.operatorID
        title = version.title
        description = version.description
        sector = version.sector
        regions = version.regions.map(\.value)
        scenarios = version.scenarios
        tags = version.tags
        fields = version.fields
        deliveryModes = version.deliveryModes.map(\.rawValue)
        chargeUnit = version.chargeUnit.rawValue
        listPriceFen = version.listPriceFen
    }
}

/// A demand as its demander sees it.
struct DemandBody: ResponseEncodable {
    var id: UUID
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
    var quantity: Int64
    var budgetFen: Int64
    var deliveryModes: [String]
    var expiresAt: Date
    var open: Bool?

    func request() throws -> DemandRequest {
        guard let purpose = Purpose(rawValue: purpose) else {
            throw MarketInputError(field: "purpose", rule: "must be one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let modes = try deliveryModes.map { mode throws(MarketInputError) -> DeliveryMode in
            guard let known = DeliveryMode(rawValue: mode) else {
                throw MarketInputError(field: "delivery_modes", rule: "must name api, file or sandbox, each at most once")
            }
            return known
        }
        return DemandRequest(title: title, description: description ?? "", sector: sector, scenario: scenario, purpose: purpose,
                             regions: try regions.map { code throws(MarketInputError) in try RegionCode(code, field: "regions") },
                             fieldsWanted: fieldsWanted, tags: tags ?? [], quantity: quantity, budgetFen: budgetFen, deliveryModes: modes,
                             expiresAt: expiresAt)
    }
}

/// The body of actions that may say why (all optional).
struct Reason: Decodable {
    var reason: String?
}

/// An order as its buyer sees it, with the quote it was placed at.
struct OrderBody: ResponseEncodable {
    var id: UUID
    var state: String
    var productId: UUID
    var productVersion: Int
    var matchId: UUID?
    var amountFen: Int64
    var quote: Quote

    init(_ order: StoredOrder) {
        id = order.id
        state = order.state.rawValue
        productId = order.productID
        productVersion = order.productVersion
        matchId = order.matchID
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

/// `POST /v1/products`: a draft product version under one of the operator's authorizations.
struct NewProductBody: Decodable {
    var authorizationId: UUID
    var title: String
    var description: String?
    var sector: String
    var regions: [String]
    var scenarios: [String]
    var tags: [String]?
    var fields: [String]
    var deliveryModes: [String]
    var chargeUnit: String
    var listPriceFen: Int64
    var sourceResourceIds: [UUID]

    func version() throws -> ProductVersion {
        guard let unit = ChargeUnit(rawValue: chargeUnit) else {
            throw MarketInputError(field: "charge_unit", rule: "must be one of \(ChargeUnit.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let modes = try deliveryModes.map { mode throws(MarketInputError) -> DeliveryMode in
            guard let known = DeliveryMode(rawValue: mode) else {
                throw MarketInputError(field: "delivery_modes", rule: "must name api, file or sandbox, each at most once")
            }
            return known
        }
        return ProductVersion(title: title, description: description ?? "", sector: sector,
                              regions: try regions.map { code throws(MarketInputError) in try RegionCode(code, field: "regions") },
                              scenarios: scenarios, tags: tags ?? [], fields: fields, deliveryModes: modes, chargeUnit: unit,
                              listPriceFen: listPriceFen, sourceResourceIDs: sourceResourceIds)
    }
}
