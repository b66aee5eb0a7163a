import Foundation
import Logging
import Market
import MarketStore
import PDXTestSupport
import Postgres
import Testing

/// A migrated database with a small market: an agency, two operators, a demander, resources of every
/// grade, and a multi-operator authorization for the first operator in transport, Shanghai.
struct Market {
    let store: MarketStore
    let pool: PostgresPool
    let agency: Party, operatorA: Party, operatorB: Party, demander: Party
    let general: DataResource, important: DataResource, core: DataResource, personal: DataResource
    let grantA: Authorization
    static let admin = Actor.administrator("test")
    static let shanghai = try! RegionCode("310000"), beijing = try! RegionCode("110000")
}

extension Market {
    /// Operator A's product on the general resource under grant A (`productVersion` unless given), listed.
    func listedProduct(_ version: ProductVersion? = nil) async throws -> StoredProduct {
        let seller = Actor.party(operatorA.id)
        let product = try await store.createProduct(version ?? productVersion([general]), operator: operatorA.id, authorization: grantA.id, by: seller)
        try await store.list(product.id, by: seller)
        return product
    }
}

func uniqueCreditCode(region: String = "310000") -> String {
    let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
    let organization = String((0..<9).map { _ in alphabet.randomElement()! })
    return try! CreditCode.completing("91" + region + organization).value
}

func withMarket<R: Sendable>(_ body: (Market) async throws -> R) async throws -> R {
    try await TestDatabase.withMigratedDatabase { configuration in
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let pool = PostgresPool(configuration: .init(connection: configuration, maxConnections: 8), logger: logger)
        do {
            let store = MarketStore(pool: pool)
            func party(_ kind: PartyKind, _ name: String) async throws -> Party {
                try await store.registerParty(NewParty(kind: kind, name: name, creditCode: uniqueCreditCode(), regionCode: "310000"), by: Market.admin)
            }
            let agency = try await party(.agency, "上海市大数据中心 Shanghai Big Data Center")
            let operatorA = try await party(.operator, "数据运营甲 Operator A")
            let operatorB = try await party(.operator, "数据运营乙 Operator B")
            let demander = try await party(.demander, "某银行 A bank")
            func resource(_ title: String, _ grade: ResourceGrade, personal: Bool = false) async throws -> DataResource {
                try await store.registerResource(NewResource(title: title, sector: "transport", regionCode: "310000", grade: grade,
                                                             personalInformation: personal), agency: agency.id, by: Market.admin)
            }
            let general = try await resource("道路流量 road traffic flow", .general)
            let important = try await resource("公交刷卡 bus card swipes", .important)
            let core = try await resource("核心路网 core network", .core)
            let personal = try await resource("车主信息 vehicle owners", .general, personal: true)
            let grantA = try await store.grant(authorization(agency: agency, operator: operatorA, mode: .multi), by: Market.admin)
            let market = Market(store: store, pool: pool, agency: agency, operatorA: operatorA, operatorB: operatorB, demander: demander,
                                general: general, important: important, core: core, personal: personal, grantA: grantA)
            let result = try await body(market)
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }
}

func authorization(agency: Party, operator: Party, mode: AuthorizationMode, sectors: [String] = ["transport"],
                   regions: [RegionCode] = [Market.shanghai], from: Date = Date() - 3600, days: Double = 365) -> Authorization {
    Authorization(agencyID: agency.id, operatorID: `operator`.id, sectors: sectors, regions: regions,
                  scenarios: ["traffic_planning", "logistics"], mode: mode, validFrom: from, validUntil: from + days * 86_400)
}

func productVersion(_ sources: [DataResource], modes: [DeliveryMode] = [.api], title: String = "路况指数 traffic index",
                    price: Int64 = 50) -> ProductVersion {
    ProductVersion(title: title, description: "实时路况 real-time road conditions", sector: "transport", regions: [Market.shanghai],
                   scenarios: ["traffic_planning"], tags: ["realtime"], fields: ["road_id", "speed", "volume"], deliveryModes: modes,
                   chargeUnit: .call, listPriceFen: price, sourceResourceIDs: sources.map(\.id))
}

func demandRequest(purpose: Purpose = .industryDevelopment, budget: Int64 = 1_000_000) -> DemandRequest {
    DemandRequest(title: "物流路径优化 route optimisation", sector: "transport", scenario: "logistics", purpose: purpose,
                  regions: [Market.shanghai], fieldsWanted: ["road_id", "speed"], quantity: 1_000, budgetFen: budget,
                  deliveryModes: [.api, .sandbox], expiresAt: Date() + 30 * 86_400)
}

/// The rule a call broke, or nil when it succeeded or failed otherwise.
func violatedRule(_ body: () async throws -> Void) async -> PolicyViolation.Rule? {
    do { try await body(); return nil } catch let error as PolicyViolation { return error.rule } catch { return nil }
}

func auditActions(_ pool: PostgresPool, subject: UUID) async throws -> [String] {
    try await pool.query("SELECT action FROM audit_events WHERE subject_id = \(subject.uuidString.lowercased()) ORDER BY id").decode(String.self)
}

func jobs(_ pool: PostgresPool, kind: String) async throws -> [String] {
    try await pool.query("SELECT args::text FROM pdx_jobs WHERE kind = \(kind) ORDER BY id").decode(String.self)
}
