public import Foundation
public import Market
import Postgres

/// A small, realistic market for demos and for a newcomer's first look: a municipal big-data bureau and
/// the transport ministry as agencies, three operators (one holding a single-operator authorization),
/// resources from enterprise registration to hospital visits, and products and demand requests in
/// Chinese with English glosses across finance, transport, energy, health and public welfare.
public enum DemoMarket {
    /// What `load` created, by name, for scripts and tests.
    public struct Loaded: Sendable {
        public var parties: [String: UUID]
        public var products: [String: UUID]
        public var demands: [String: UUID]
    }

    static let bureauCode = "11310000MB0000001"

    /// The demo party that plays each role in examples: a demander (浦江银行), an operator (上海数智运营)
    /// and an agency (上海市数据局), with their names; nil if the demo market is not loaded.
    public static func rolePlayers(in store: MarketStore) async throws -> [(role: PartyKind, id: UUID, name: String)]? {
        var players: [(role: PartyKind, id: UUID, name: String)] = []
        for (role, prefix) in [(PartyKind.demander, "91310000MA1K00006"), (.operator, "91310000MA1K00003"), (.agency, bureauCode)] {
            let code = try CreditCode.completing(prefix).value
            guard let row = try await store.pool.query("SELECT id, name FROM parties WHERE credit_code = \(code)").first else { return nil }
            let (id, name) = try row.decode(UUID.self, String.self)
            players.append((role, id, name))
        }
        return players
    }

    /// Loads the demo market through the store (so every row has its audit event and follow-up job), in
    /// one transaction: a load that dies half-way leaves nothing, and the next one starts over. Returns
    /// nil, changing nothing, when it has been loaded before.
    public static func load(into store: MarketStore) async throws -> Loaded? {
        let bureauCreditCode = try CreditCode.completing(bureauCode).value
        if try await store.pool.query("SELECT 1 FROM parties WHERE credit_code = \(bureauCreditCode)").count > 0 { return nil }
        return try await store.inOneTransaction { try await create(in: store) }
    }

    private static func create(in store: MarketStore) async throws -> Loaded {
        let admin = Actor.administrator("demo")
        var parties: [String: UUID] = [:]
        func party(_ key: String, _ kind: PartyKind, _ name: String, _ prefix: String, _ region: String, small: Bool = false,
                   charity: Bool = false) async throws -> UUID {
            let code = try CreditCode.completing(prefix).value
            let id = try await store.registerParty(NewParty(kind: kind, name: name, creditCode: code, regionCode: region), by: admin).id
            if small {
                // Its class earns the discount only verified, with evidence and an expiry.
                _ = try await store.verifyParty(id, as: .smallMicro, evidence: "demo: 工信部中小企业划型 self-assessment on file",
                                                expiresAt: Date().addingTimeInterval(365 * 86_400), by: admin)
            }
            if charity {
                // Its public-welfare demands are free only once its class is verified.
                _ = try await store.verifyParty(id, as: .socialOrganization, evidence: "demo: 慈善组织登记证书 charity registration on file",
                                                expiresAt: Date().addingTimeInterval(365 * 86_400), by: admin)
            }
            parties[key] = id
            return id
        }
        let bureau = try await party("bureau", .agency, "上海市数据局 Shanghai Municipal Data Bureau", bureauCode, "310000")
        let ministry = try await party("ministry", .agency, "交通运输部 Ministry of Transport", "11110000MB0000002", "110000")
        let shuzhi = try await party("shuzhi", .operator, "上海数智运营有限公司 Shanghai Shuzhi Operations", "91310000MA1K00003", "310000")
        let huitong = try await party("huitong", .operator, "汇通数据科技 Huitong Data Technology", "91310115MA1K00004", "310115")
        let jiaoyun = try await party("jiaoyun", .operator, "交运数联 Jiaoyun Data Link (single operator)", "91110000MA0100005", "110000")
        let bank = try await party("bank", .demander, "浦江银行 Pujiang Bank", "91310000MA1K00006", "310000")
        let logistics = try await party("logistics", .demander, "迅达物流 Xunda Logistics (small enterprise)", "92310115MA1K00007", "310115", small: true)
        let charity = try await party("charity", .demander, "上海慈善基金会 Shanghai Charity Foundation", "53310000MJ0000008", "310000", charity: true)

        func resource(_ title: String, _ sector: String, _ region: String, _ grade: ResourceGrade, agency: UUID, personal: Bool = false) async throws -> DataResource {
            try await store.registerResource(NewResource(title: title, sector: sector, regionCode: region, grade: grade, personalInformation: personal),
                                             agency: agency, by: admin)
        }
        let registration = try await resource("企业登记信息 enterprise registration records", "commerce", "310000", .general, agency: bureau)
        let traffic = try await resource("道路交通流量 road traffic flow", "transport", "310000", .general, agency: bureau)
        let weather = try await resource("气象观测 weather observations", "meteorology", "310000", .general, agency: bureau)
        let power = try await resource("企业用电量 enterprise power consumption", "energy", "310000", .general, agency: bureau)
        let hospital = try await resource("医院就诊记录 hospital visits", "health", "310000", .important, agency: bureau, personal: true)
        try await store.recordDeidentification(of: hospital.id, method: "去标识化: 删除直接标识符, k-匿名 k=20 (de-identified: direct identifiers removed, k-anonymity 20)",
                                               performedBy: "上海市数据局数据安全处 data security office", by: admin)
        let freight = try await resource("全国道路货运 national road freight", "transport", "110000", .general, agency: ministry)

        let now = Date()
        func grant(_ agency: UUID, _ operatorID: UUID, _ sectors: [String], _ regions: [String], _ scenarios: [String],
                   _ mode: AuthorizationMode, years: Int = 3) async throws -> UUID {
            let from = now - 86_400
            let until = Calendar(identifier: .gregorian).date(byAdding: .year, value: years, to: from) ?? from + Double(years) * 365 * 86_400
            return try await store.grant(Authorization(agencyID: agency, operatorID: operatorID, sectors: sectors,
                                                       regions: try regions.map { code throws(MarketInputError) in try RegionCode(code) },
                                                       scenarios: scenarios, mode: mode, validFrom: from, validUntil: until), by: admin).id
        }
        let shanghaiScenarios = ["credit_risk", "supply_chain_finance", "traffic_planning", "logistics", "energy_saving", "public_health", "disaster_relief"]
        let grantShuzhi = try await grant(bureau, shuzhi, ["commerce", "transport", "meteorology", "energy", "health"], ["310000"], shanghaiScenarios, .multi)
        let grantHuitong = try await grant(bureau, huitong, ["commerce", "energy"], ["310000"], ["credit_risk", "supply_chain_finance", "energy_saving"], .multi)
        let grantJiaoyun = try await grant(ministry, jiaoyun, ["transport"], ["110000"], ["logistics", "traffic_planning"], .single, years: 5)

        var products: [String: UUID] = [:]
        func product(_ key: String, _ operatorID: UUID, _ authorization: UUID, _ version: ProductVersion) async throws {
            let created = try await store.createProduct(version, operator: operatorID, authorization: authorization, by: .party(operatorID))
            try await store.list(created.id, by: .party(operatorID))
            products[key] = created.id
        }
        let sh = [try RegionCode("310000")], bj = [try RegionCode("110000")]
        try await product("credit", shuzhi, grantShuzhi, ProductVersion(
            title: "企业信用画像 enterprise credit profile", description: "基于企业登记与用电数据的信用评分 credit scores from registration and power data",
            sector: "commerce", regions: sh, scenarios: ["credit_risk", "supply_chain_finance"], tags: ["credit", "sme"],
            fields: ["credit_code", "registered_capital", "credit_score", "industry"], deliveryModes: [.api], chargeUnit: .call,
            listPriceFen: 80, sourceResourceIDs: [registration.id]))
        try await product("power_index", huitong, grantHuitong, ProductVersion(
            title: "企业用电景气指数 power-based business activity index", description: "按行业汇总的月度用电指数 monthly power index by industry",
            sector: "energy", regions: sh, scenarios: ["credit_risk", "energy_saving"], tags: ["energy", "index"],
            fields: ["industry", "month", "power_kwh", "activity_index"], deliveryModes: [.api, .file], chargeUnit: .record,
            listPriceFen: 5, sourceResourceIDs: [power.id]))
        try await product("traffic", shuzhi, grantShuzhi, ProductVersion(
            title: "实时路况指数 real-time traffic index", description: "路段级速度与流量 speed and volume per road segment",
            sector: "transport", regions: sh, scenarios: ["traffic_planning", "logistics"], tags: ["realtime", "traffic"],
            fields: ["road_id", "speed", "volume", "congestion_level"], deliveryModes: [.api], chargeUnit: .call,
            listPriceFen: 20, sourceResourceIDs: [traffic.id]))
        try await product("weather_risk", shuzhi, grantShuzhi, ProductVersion(
            title: "气象灾害风险 weather hazard risk", description: "暴雨与台风影响评估 rainstorm and typhoon impact",
            sector: "meteorology", regions: sh, scenarios: ["disaster_relief", "logistics"], tags: ["weather", "risk"],
            fields: ["district", "hazard_type", "risk_level", "forecast_hour"], deliveryModes: [.api, .file], chargeUnit: .item,
            listPriceFen: 5_000, sourceResourceIDs: [weather.id]))
        try await product("clinic_load", shuzhi, grantShuzhi, ProductVersion(
            title: "门诊负荷沙箱分析 outpatient load analysis (sandbox)", description: "可用不可见的就诊统计 visit statistics, usable but not visible",
            sector: "health", regions: sh, scenarios: ["public_health"], tags: ["health", "sandbox"],
            fields: ["hospital_level", "department", "visits", "week"], deliveryModes: [.sandbox], chargeUnit: .hour,
            listPriceFen: 20_000, sourceResourceIDs: [hospital.id]))
        try await product("freight", jiaoyun, grantJiaoyun, ProductVersion(
            title: "干线货运流向 trunk freight flows", description: "省际货车流向统计 inter-provincial truck flows",
            sector: "transport", regions: bj, scenarios: ["logistics"], tags: ["freight"],
            fields: ["origin", "destination", "truck_trips", "week"], deliveryModes: [.file], chargeUnit: .item,
            listPriceFen: 100_000, sourceResourceIDs: [freight.id]))

        // The sandbox product's dataset: visits of 2,400 patients (never leaving the sandbox; analyses see aggregates).
        if let clinics = products["clinic_load"] {
            var random = SplitMix64(seed: 2026)
            let districts = ["黄浦 Huangpu", "徐汇 Xuhui", "长宁 Changning", "静安 Jing'an", "普陀 Putuo", "虹口 Hongkou", "杨浦 Yangpu", "浦东 Pudong"]
            let departments = ["internal", "pediatrics", "surgery", "dermatology", "ophthalmology"], levels = ["tertiary", "secondary", "community"]
            var csv = "patient_id,name,district,hospital_level,department,week,visits\n"
            for patient in 0..<2_400 {
                let district = districts[Int(random.next() % UInt64(districts.count))]
                for _ in 0...(random.next() % 4) {
                    csv += "P\(100_000 + patient),\"患者 \(patient)\",\(district),\(levels[Int(random.next() % 3)]),\(departments[Int(random.next() % 5)]),"
                        + "\(1 + random.next() % 12),\(1 + random.next() % 3)\n"
                }
            }
            _ = try await store.loadSandboxDataset(product: clinics, columns: [
                SandboxColumn(name: "patient_id", role: .entity, type: .text), SandboxColumn(name: "name", role: .hidden, type: .text),
                SandboxColumn(name: "district", role: .dimension, type: .text), SandboxColumn(name: "hospital_level", role: .dimension, type: .text),
                SandboxColumn(name: "department", role: .dimension, type: .text), SandboxColumn(name: "week", role: .dimension, type: .integer),
                SandboxColumn(name: "visits", role: .measure, type: .number, lower: 0, upper: 30),
            ], settings: SandboxSettings(maxGroupsPerEntity: 2), csv: Data(csv.utf8), by: admin)
        }

        var demands: [String: UUID] = [:]
        func demand(_ key: String, _ demander: UUID, _ request: DemandRequest) async throws {
            demands[key] = try await store.postDemand(request, demander: demander, open: true, by: .party(demander))
        }
        let month = now + 60 * 86_400
        try await demand("sme_loans", bank, DemandRequest(
            title: "小微企业贷前风控 pre-loan risk checks for small firms", description: "需要企业信用与经营活跃度 credit and activity of small enterprises",
            sector: "commerce", scenario: "credit_risk", purpose: .industryDevelopment, regions: sh,
            fieldsWanted: ["credit_code", "credit_score", "industry"], tags: ["credit", "sme"], quantity: 20_000, budgetFen: 2_000_000,
            deliveryModes: [.api], expiresAt: month))
        try await demand("routing", logistics, DemandRequest(
            title: "城配路径优化 urban delivery routing", description: "实时路况用于路径规划 live traffic for routing",
            sector: "transport", scenario: "logistics", purpose: .industryDevelopment, regions: sh,
            fieldsWanted: ["road_id", "speed", "congestion_level"], tags: ["realtime"], quantity: 50_000, budgetFen: 1_500_000,
            deliveryModes: [.api], expiresAt: month))
        try await demand("relief", charity, DemandRequest(
            title: "台风救灾物资调度 typhoon relief logistics", description: "公益救灾, 需要灾害风险与道路状况 public welfare: hazard risk and roads",
            sector: "meteorology", scenario: "disaster_relief", purpose: .publicWelfare, regions: sh,
            fieldsWanted: ["district", "risk_level"], tags: ["weather"], quantity: 10, budgetFen: 0,
            deliveryModes: [.api, .file], expiresAt: month))
        try await demand("clinics", charity, DemandRequest(
            title: "社区义诊选址 siting free community clinics", description: "公益: 各区门诊负荷 public welfare: outpatient load by district",
            sector: "health", scenario: "public_health", purpose: .publicWelfare, regions: sh,
            fieldsWanted: ["department", "visits"], tags: ["health"], quantity: 40, budgetFen: 0,
            deliveryModes: [.sandbox], expiresAt: month))
        try await demand("freight_finance", bank, DemandRequest(
            title: "货运贸易融资核验 verifying freight for trade finance", description: "全国货运流向 national freight flows",
            sector: "transport", scenario: "logistics", purpose: .sectorDevelopment, regions: bj,
            fieldsWanted: ["origin", "destination", "truck_trips"], tags: ["freight"], quantity: 12, budgetFen: 1_500_000,
            deliveryModes: [.file], expiresAt: month))
        // Demand nobody supplies yet: the kind of gap that tells agencies which data to open next.
        try await demand("farm_insurance", bank, DemandRequest(
            title: "农业保险定损 crop insurance loss assessment", description: "需要地块与灾情数据 field parcels and damage",
            sector: "agriculture", scenario: "insurance", purpose: .industryDevelopment, regions: sh,
            fieldsWanted: ["parcel_id", "crop", "damage_ratio"], tags: ["agriculture"], quantity: 5_000, budgetFen: 500_000,
            deliveryModes: [.api, .file], expiresAt: month))
        return Loaded(parties: parties, products: products, demands: demands)
    }
}
