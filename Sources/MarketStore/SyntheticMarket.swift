import Foundation
import Market
public import Postgres

/// A synthetic market at scale for benchmarks (`pdx bench seed`): agencies, operators and demanders,
/// resources, multi-operator authorizations, listed products and open demands, drawn from a seeded
/// generator so that the same seed gives the same market. Rows go in with batched multi-row inserts
/// that satisfy every constraint and trigger of the schema; they carry no audit events (they are not
/// anybody's actions) and enqueue no jobs.
public struct SyntheticMarket: Sendable {
    public var products: Int
    public var demands: Int
    public var seed: UInt64

    public init(products: Int, demands: Int, seed: UInt64 = 1) {
        self.products = products
        self.demands = demands
        self.seed = seed
    }

    /// What each sector offers: scenarios and fields, and words for titles (Chinese, English).
    struct Vocabulary {
        var sector: String
        var scenarios: [String]
        var fields: [String]
        var subjects: [(String, String)]
    }

    static let vocabularies: [Vocabulary] = [
        Vocabulary(sector: "finance", scenarios: ["credit_risk", "anti_fraud", "supply_chain_finance", "insurance_pricing"],
                   fields: ["credit_code", "credit_score", "tax_grade", "overdue_days", "registered_capital", "industry", "employees", "revenue_band"],
                   subjects: [("企业信用", "enterprise credit"), ("纳税评级", "tax rating"), ("反欺诈", "anti-fraud"), ("供应链金融", "supply chain finance")]),
        Vocabulary(sector: "transport", scenarios: ["traffic_planning", "logistics", "ride_hailing", "road_safety"],
                   fields: ["road_id", "speed", "volume", "congestion_level", "truck_trips", "origin", "destination", "accident_count"],
                   subjects: [("实时路况", "live traffic"), ("货运流向", "freight flows"), ("公交客流", "bus ridership"), ("交通事故", "road accidents")]),
        Vocabulary(sector: "energy", scenarios: ["energy_saving", "credit_risk", "grid_planning", "carbon_accounting"],
                   fields: ["power_kwh", "industry", "month", "peak_load", "carbon_tons", "activity_index", "district", "meter_type"],
                   subjects: [("用电指数", "power index"), ("碳排放", "carbon emissions"), ("负荷预测", "load forecast"), ("能效评估", "energy efficiency")]),
        Vocabulary(sector: "health", scenarios: ["public_health", "insurance_pricing", "drug_supply", "elderly_care"],
                   fields: ["department", "visits", "week", "hospital_level", "diagnosis_group", "age_band", "district", "bed_occupancy"],
                   subjects: [("门诊负荷", "outpatient load"), ("疾病谱", "disease spectrum"), ("床位占用", "bed occupancy"), ("药品流通", "drug circulation")]),
        Vocabulary(sector: "meteorology", scenarios: ["disaster_relief", "agriculture_insurance", "logistics", "energy_saving"],
                   fields: ["district", "hazard_type", "risk_level", "forecast_hour", "rainfall_mm", "temperature", "wind_speed", "humidity"],
                   subjects: [("气象灾害", "weather hazards"), ("降水预报", "rainfall forecast"), ("高温预警", "heat warnings"), ("台风路径", "typhoon tracks")]),
        Vocabulary(sector: "commerce", scenarios: ["credit_risk", "market_entry", "supply_chain_finance", "site_selection"],
                   fields: ["credit_code", "industry", "registered_capital", "established_on", "shareholders", "district", "status", "business_scope"],
                   subjects: [("企业登记", "business registration"), ("经营异常", "abnormal operations"), ("市场主体", "market entities"), ("商圈热度", "shopping districts")]),
    ]

    /// Real province and city codes to spread the market over.
    static let regions = ["110000", "120000", "310000", "310115", "320100", "320500", "330100", "330200", "340100", "350200",
                          "370200", "410100", "420100", "430100", "440100", "440300", "500000", "510100", "610100", "650100"]

    /// Fills the database, reporting progress as it goes. The database must be migrated.
    public func generate(on pool: PostgresPool, progress: @Sendable (String) -> Void) async throws {
        var random = SplitMix64(seed: seed)
        let batch = 5_000
        let operatorCount = max(3, products / 500), demanderCount = max(3, demands / 10), agencyCount = 20
        func code(_ prefix: String, _ n: Int, region: String) throws -> String {
            let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
            var tail = "", value = n + Int(seed % 1_000) * 10_000_000
            for _ in 0..<8 { tail = String(alphabet[value % 31]) + tail; value /= 31 }
            return try CreditCode.completing(prefix + region + "M" + tail).value
        }
        guard products >= 1, demands >= 0 else { throw MarketInputError(field: "products", rule: "must be at least 1") }
        // Parties.
        var kinds: [String] = [], names: [String] = [], codes: [String] = [], partyRegions: [String] = [], ids: [UUID] = []
        var agencies: [UUID] = [], operators: [UUID] = [], demanders: [UUID] = []
        for i in 0..<(agencyCount + operatorCount + demanderCount) {
            let id = random.uuid()
            let region = Self.regions[i % Self.regions.count]
            let (kind, prefix): (String, String) = i < agencyCount ? ("agency", "11") : i < agencyCount + operatorCount ? ("operator", "91") : ("demander", "91")
            ids.append(id); kinds.append(kind); partyRegions.append(region)
            names.append("\(kind) \(i)")
            codes.append(try code(prefix, i, region: region))
            switch kind {
            case "agency": agencies.append(id)
            case "operator": operators.append(id)
            default: demanders.append(id)
            }
        }
        if try await pool.query("SELECT 1 FROM parties WHERE credit_code = ANY(\(codes))").count > 0 {
            throw MarketInputError(field: "seed", rule: "\(seed) has already been used on this database; use another seed or an empty database")
        }
        try await pool.execute("""
            INSERT INTO parties (id, kind, name, credit_code, region_code)
            SELECT * FROM unnest(\(ids), \(kinds)::pdx_party_kind[], \(names), \(codes), \(partyRegions))
            """)
        progress("seeded \(ids.count) parties")

        // Resources: every agency, every sector, in its own region and one more; all general except a
        // few important ones (products on those deliver in a sandbox).
        struct Resource { var id: UUID; var agency: Int; var sector: Int; var region: String; var important: Bool }
        var resources: [Resource] = []
        for agency in 0..<agencyCount {
            for sector in Self.vocabularies.indices {
                for region in [Self.regions[agency % Self.regions.count], Self.regions[(agency + 7) % Self.regions.count]] {
                    resources.append(Resource(id: random.uuid(), agency: agency, sector: sector, region: region, important: random.next() % 10 == 0))
                }
            }
        }
        try await pool.execute("""
            INSERT INTO data_resources (id, agency_id, title, sector, region_code, grade)
            SELECT * FROM unnest(\(resources.map(\.id)), \(resources.map { agencies[$0.agency] }),
                                 \(resources.map { Self.vocabularies[$0.sector].subjects[0].0 + " " + $0.region }),
                                 \(resources.map { Self.vocabularies[$0.sector].sector }), \(resources.map(\.region)),
                                 \(resources.map { $0.important ? "important" : "general" })::pdx_resource_grade[])
            """)
        progress("seeded \(resources.count) resources")

        // Authorizations: each operator, from one agency, over that agency's two regions and two or three
        // sectors, multi-operator mode, for three years.
        struct Grant { var id: UUID; var agency: Int; var sectors: [Int]; var regions: [String] }
        var grants: [Grant] = []
        for _ in operators {
            let agency = Int(random.next() % UInt64(agencyCount))
            var sectors = Array(Self.vocabularies.indices).shuffled(using: &random).prefix(2 + Int(random.next() % 2)).sorted()
            if sectors.isEmpty { sectors = [0] }
            grants.append(Grant(id: random.uuid(), agency: agency, sectors: sectors,
                                regions: [Self.regions[agency % Self.regions.count], Self.regions[(agency + 7) % Self.regions.count]]))
        }
        for grant in grants.indices {
            let g = grants[grant]
            let scenarios = Array(Set(g.sectors.flatMap { Self.vocabularies[$0].scenarios })).sorted()
            try await pool.execute("""
                INSERT INTO authorizations (id, agency_id, operator_id, sectors, regions, scenarios, mode, validity)
                VALUES (\(g.id), \(agencies[g.agency]), \(operators[grant]), \(g.sectors.map { Self.vocabularies[$0].sector }), \(g.regions),
                        \(scenarios), 'multi', tstzrange(now() - interval '1 day', now() + interval '3 years'))
                """)
        }
        progress("seeded \(grants.count) authorizations")

        // Products, listed, in batches.
        let resourcesByKey = Dictionary(grouping: resources) { "\($0.agency)/\($0.sector)/\($0.region)" }
        var made = 0
        while made < products {
            let count = min(batch, products - made)
            var pIDs: [UUID] = [], pOperators: [UUID] = [], pGrants: [UUID] = []
            var titles: [String] = [], descriptions: [String] = [], sectors: [String] = [], regions: [String] = [], scenarios: [String] = []
            var tags: [String] = [], fields: [String] = [], modes: [String] = [], units: [String] = [], prices: [Int64] = []
            var sourceProducts: [UUID] = [], sourceResources: [UUID] = []
            for _ in 0..<count {
                let operatorIndex = Int(random.next() % UInt64(operators.count))
                let grant = grants[operatorIndex]
                let sector = grant.sectors[Int(random.next() % UInt64(grant.sectors.count))]
                let vocabulary = Self.vocabularies[sector]
                let region = grant.regions[Int(random.next() % 2)]
                // Every agency registered every sector in both of its regions, which are the grant's regions.
                guard let resource = resourcesByKey["\(grant.agency)/\(sector)/\(region)"]?.first else {
                    throw MarketInputError(field: "seed", rule: "generator inconsistency: no resource for \(vocabulary.sector) in \(region)")
                }
                let subject = vocabulary.subjects[Int(random.next() % UInt64(vocabulary.subjects.count))]
                let id = random.uuid()
                pIDs.append(id); pOperators.append(operators[operatorIndex]); pGrants.append(grant.id)
                titles.append("\(subject.0)数据服务 \(subject.1) data service #\(made + pIDs.count)")
                descriptions.append("\(region) \(subject.0) \(subject.1), \(vocabulary.sector)")
                sectors.append(vocabulary.sector)
                regions.append("{\(region)}")
                scenarios.append("{\(vocabulary.scenarios.shuffled(using: &random).prefix(2).joined(separator: ","))}")
                tags.append("{\(vocabulary.sector),t\(random.next() % 20)}")
                fields.append("{\(vocabulary.fields.shuffled(using: &random).prefix(3 + Int(random.next() % 4)).joined(separator: ","))}")
                modes.append(resource.important ? "{sandbox}" : ["{api}", "{file}", "{api,file}", "{api,sandbox}"][Int(random.next() % 4)])
                units.append(["item", "call", "hour", "record"][Int(random.next() % 4)])
                prices.append(Int64(1 + random.next() % 10_000))
                sourceProducts.append(id); sourceResources.append(resource.id)
            }
            let statements: [PostgresQuery] = [
                """
                INSERT INTO products (id, operator_id, authorization_id, state)
                SELECT i, o, g, 'listed' FROM unnest(\(pIDs), \(pOperators), \(pGrants)) AS u(i, o, g)
                """,
                """
                INSERT INTO product_versions (product_id, version, title, description, sector, regions, scenarios, tags, fields,
                                              delivery_modes, charge_unit, list_price_fen)
                SELECT i, 1, t, d, s, r::text[], sc::text[], tg::text[], f::text[], m::pdx_delivery_mode[], u::pdx_charge_unit, p
                FROM unnest(\(pIDs), \(titles), \(descriptions), \(sectors), \(regions), \(scenarios), \(tags), \(fields), \(modes),
                            \(units), \(prices)) AS x(i, t, d, s, r, sc, tg, f, m, u, p)
                """,
                """
                INSERT INTO product_version_sources (product_id, version, resource_id)
                SELECT p, 1, r FROM unnest(\(sourceProducts), \(sourceResources)) AS x(p, r)
                """,
                "UPDATE product_versions SET frozen = true WHERE product_id = ANY(\(pIDs))",
            ]
            try await pool.withTransaction { connection in
                for statement in statements { try await connection.execute(statement) }
            }
            made += count
            progress("seeded \(made)/\(products) products")
        }

        // Demands, open.
        made = 0
        while made < demands {
            let count = min(batch, demands - made)
            var dIDs: [UUID] = [], owners: [UUID] = [], titles: [String] = [], sectors: [String] = [], scenarios: [String] = []
            var purposes: [String] = [], regions: [String] = [], fields: [String] = [], tags: [String] = [], quantities: [Int64] = []
            var budgets: [Int64] = [], modes: [String] = []
            for _ in 0..<count {
                let vocabulary = Self.vocabularies[Int(random.next() % UInt64(Self.vocabularies.count))]
                let subject = vocabulary.subjects[Int(random.next() % UInt64(vocabulary.subjects.count))]
                dIDs.append(random.uuid())
                owners.append(demanders[Int(random.next() % UInt64(demanders.count))])
                titles.append("需要\(subject.0) wanted: \(subject.1) #\(made + dIDs.count)")
                sectors.append(vocabulary.sector)
                scenarios.append(vocabulary.scenarios[Int(random.next() % UInt64(vocabulary.scenarios.count))])
                let purpose = ["industry_development", "industry_development", "sector_development", "public_welfare", "public_governance"][Int(random.next() % 5)]
                purposes.append(purpose)
                regions.append("{\(Self.regions[Int(random.next() % UInt64(Self.regions.count))])}")
                fields.append("{\(vocabulary.fields.shuffled(using: &random).prefix(2 + Int(random.next() % 3)).joined(separator: ","))}")
                tags.append("{\(vocabulary.sector)}")
                quantities.append(Int64(1 + random.next() % 10_000))
                budgets.append(purpose.hasPrefix("public") ? 0 : Int64(random.next() % 100_000_000))
                modes.append(["{api}", "{file}", "{api,file}", "{api,file,sandbox}", "{sandbox}"][Int(random.next() % 5)])
            }
            try await pool.execute("""
                INSERT INTO demands (id, demander_id, title, sector, scenario, purpose, regions, fields_wanted, tags, quantity, budget_fen,
                                     delivery_modes, expires_at, state)
                SELECT i, o, t, s, sc, p::pdx_purpose, r::text[], f::text[], tg::text[], q, b, m::pdx_delivery_mode[],
                       now() + interval '90 days', 'open'
                FROM unnest(\(dIDs), \(owners), \(titles), \(sectors), \(scenarios), \(purposes), \(regions), \(fields), \(tags),
                            \(quantities), \(budgets), \(modes)) AS x(i, o, t, s, sc, p, r, f, tg, q, b, m)
                """)
            made += count
            progress("seeded \(made)/\(demands) demands")
        }
        try await pool.execute("ANALYZE")
    }
}

extension SplitMix64 {
    /// A random (version 4 layout) UUID drawn from the generator, so a seed always gives the same ids.
    mutating func uuid() -> UUID {
        let a = next(), b = next()
        var bytes = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0),
                     UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        withUnsafeMutableBytes(of: &bytes) { raw in
            raw.storeBytes(of: a.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: b.bigEndian, toByteOffset: 8, as: UInt64.self)
            raw[6] = (raw[6] & 0x0F) | 0x40
            raw[8] = (raw[8] & 0x3F) | 0x80
        }
        return UUID(uuid: bytes)
    }
}
