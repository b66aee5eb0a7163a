public import Foundation
import JobQueue
import Market
public import Postgres
import MarketJobs

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
        // The demanders are public institutions, verified: their public-interest demands (two in five) are free,
        // as a verified class makes them (an unverified one would be priced, and find nothing within no budget).
        try await pool.execute("""
            INSERT INTO party_verifications (party_id, class, evidence, verified_by, expires_at)
            SELECT id, 'public_institution', 'synthetic market', 'pdx bench seed', now() + interval '1 year' FROM unnest(\(demanders)::uuid[]) AS d(id)
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

        // Products, listed, and open demands, in batches.
        let context = Context(demanders: demanders, grants: grants.indices.map { index in
            Context.Grant(id: grants[index].id, operatorID: operators[index], agencyID: agencies[grants[index].agency],
                          sectors: grants[index].sectors, regions: grants[index].regions)
        }, resources: Dictionary(resources.map { ("\(agencies[$0.agency])/\($0.sector)/\($0.region)", ($0.id, $0.important)) },
                                 uniquingKeysWith: { first, _ in first }))
        var made = 0
        while made < products {
            let count = min(batch, products - made)
            try await Self.insertProducts(try (0..<count).map { i in try context.randomProduct(number: made + i + 1, &random) }, on: pool)
            made += count
            progress("seeded \(made)/\(products) products")
        }
        made = 0
        while made < demands {
            let count = min(batch, demands - made)
            try await Self.insertDemands((0..<count).map { i in context.randomDemand(number: made + i + 1, &random) }, on: pool)
            made += count
            progress("seeded \(made)/\(demands) demands")
        }
        // A fresh bulk load: statistics, visibility and GIN pending lists settled, as operations would.
        try await pool.execute("VACUUM ANALYZE")
    }
}

extension SyntheticMarket {
    /// What new rows are drawn from: the market's demanders, grants (with their agency) and resources.
    struct Context: Sendable {
        struct Grant: Sendable {
            var id: UUID
            var operatorID: UUID
            var agencyID: UUID
            /// Indices into `vocabularies`.
            var sectors: [Int]
            var regions: [String]
        }

        var demanders: [UUID]
        var grants: [Grant]
        /// "agency/sector index/region" to the resource's id and whether it is important data.
        var resources: [String: (id: UUID, important: Bool)]

        /// A market already in the database (seeded by `generate`).
        static func load(from pool: PostgresPool) async throws -> Context {
            let demanders = try await pool.query("SELECT id FROM parties WHERE kind = 'demander' ORDER BY id").decode(UUID.self)
            let sectorIndex = Dictionary(uniqueKeysWithValues: vocabularies.enumerated().map { ($1.sector, $0) })
            let grants = try await pool.query("""
                SELECT id, operator_id, agency_id, sectors, regions FROM authorizations
                WHERE state = 'active' AND mode = 'multi' AND validity @> now() ORDER BY id
                """).decode(UUID.self, UUID.self, UUID.self, [String].self, [String].self).map { id, operatorID, agency, sectors, regions in
                Grant(id: id, operatorID: operatorID, agencyID: agency, sectors: sectors.compactMap { sectorIndex[$0] }, regions: regions)
            }.filter { !$0.sectors.isEmpty }
            var resources: [String: (id: UUID, important: Bool)] = [:]
            for (id, agency, sector, region, grade) in try await pool.query("""
                SELECT id, agency_id, sector, region_code, grade::text FROM data_resources WHERE NOT personal_info ORDER BY id
                """).decode(UUID.self, UUID.self, String.self, String.self, String.self) where grade != "core" {
                guard let index = sectorIndex[sector], resources["\(agency)/\(index)/\(region)"] == nil else { continue }
                resources["\(agency)/\(index)/\(region)"] = (id, grade == "important")
            }
            guard !demanders.isEmpty, !grants.isEmpty else {
                throw MarketInputError(field: "database", rule: "must hold a synthetic market first (pdx bench seed)")
            }
            return Context(demanders: demanders, grants: grants, resources: resources)
        }

        func resource(_ grant: Grant, _ sector: Int, _ region: String) throws -> (id: UUID, important: Bool) {
            guard let resource = resources["\(grant.agencyID)/\(sector)/\(region)"] else {
                throw MarketInputError(field: "seed", rule: "generator inconsistency: no resource for \(vocabularies[sector].sector) in \(region)")
            }
            return resource
        }

        /// A product of a random operator, inside its grant, priced 0.01 to 100 yuan per unit.
        func randomProduct(number: Int, _ random: inout SplitMix64) throws -> ProductRow {
            let grant = grants[Int(random.next() % UInt64(grants.count))]
            let sector = grant.sectors[Int(random.next() % UInt64(grant.sectors.count))]
            let vocabulary = vocabularies[sector]
            let region = grant.regions[Int(random.next() % UInt64(grant.regions.count))]
            // Every agency registered every sector in both of its regions, which are the grant's regions.
            let resource = try resource(grant, sector, region)
            let subject = vocabulary.subjects[Int(random.next() % UInt64(vocabulary.subjects.count))]
            return ProductRow(
                id: random.uuid(), operatorID: grant.operatorID, grantID: grant.id,
                title: "\(subject.0)数据服务 \(subject.1) data service #\(number)", description: "\(region) \(subject.0) \(subject.1), \(vocabulary.sector)",
                sector: vocabulary.sector, regions: [region], scenarios: Array(vocabulary.scenarios.shuffled(using: &random).prefix(2)),
                tags: [vocabulary.sector, "t\(random.next() % 20)"],
                fields: Array(vocabulary.fields.shuffled(using: &random).prefix(3 + Int(random.next() % 4))),
                modes: resource.important ? ["sandbox"] : [["api"], ["file"], ["api", "file"], ["api", "sandbox"]][Int(random.next() % 4)],
                unit: ["item", "call", "hour", "record"][Int(random.next() % 4)], priceFen: Int64(1 + random.next() % 10_000),
                resourceID: resource.id)
        }

        /// An open demand of a random demander for 90 days; public-interest ones have no budget.
        func randomDemand(number: Int, _ random: inout SplitMix64) -> DemandRow {
            let vocabulary = vocabularies[Int(random.next() % UInt64(vocabularies.count))]
            let subject = vocabulary.subjects[Int(random.next() % UInt64(vocabulary.subjects.count))]
            let id = random.uuid()
            let owner = demanders[Int(random.next() % UInt64(demanders.count))]
            let scenario = vocabulary.scenarios[Int(random.next() % UInt64(vocabulary.scenarios.count))]
            let purpose = ["industry_development", "industry_development", "sector_development", "public_welfare", "public_governance"][Int(random.next() % 5)]
            let region = SyntheticMarket.regions[Int(random.next() % UInt64(SyntheticMarket.regions.count))]
            let fields = Array(vocabulary.fields.shuffled(using: &random).prefix(2 + Int(random.next() % 3)))
            let quantity = Int64(1 + random.next() % 10_000)
            let budget = purpose.hasPrefix("public") ? 0 : Int64(random.next() % 100_000_000)
            let modes = [["api"], ["file"], ["api", "file"], ["api", "file", "sandbox"], ["sandbox"]][Int(random.next() % 5)]
            return DemandRow(id: id, demanderID: owner, title: "需要\(subject.0) wanted: \(subject.1) #\(number)", sector: vocabulary.sector,
                             scenario: scenario, purpose: purpose, regions: [region], fields: fields, tags: [vocabulary.sector],
                             quantity: quantity, budgetFen: budget, modes: modes)
        }
    }

    struct ProductRow: Sendable {
        var id: UUID, operatorID: UUID, grantID: UUID
        var title: String, description: String, sector: String
        var regions: [String], scenarios: [String], tags: [String], fields: [String], modes: [String]
        var unit: String, priceFen: Int64, resourceID: UUID
    }

    struct DemandRow: Sendable {
        var id: UUID, demanderID: UUID
        var title: String, sector: String, scenario: String, purpose: String
        var regions: [String], fields: [String], tags: [String]
        var quantity: Int64, budgetFen: Int64, modes: [String]
    }

    /// Inserts listed products (version 1, frozen, one source each) in one transaction.
    static func insertProducts(_ rows: [ProductRow], on pool: PostgresPool) async throws {
        func literal(_ values: [String]) -> String { "{" + values.joined(separator: ",") + "}" }
        let ids = rows.map(\.id)
        let statements: [PostgresQuery] = [
            """
            INSERT INTO products (id, operator_id, authorization_id, state)
            SELECT i, o, g, 'listed' FROM unnest(\(ids), \(rows.map(\.operatorID)), \(rows.map(\.grantID))) AS u(i, o, g)
            """,
            """
            INSERT INTO product_versions (product_id, version, title, description, sector, regions, scenarios, tags, fields,
                                          delivery_modes, charge_unit, list_price_fen)
            SELECT i, 1, t, d, s, r::text[], sc::text[], tg::text[], f::text[], m::pdx_delivery_mode[], u::pdx_charge_unit, p
            FROM unnest(\(ids), \(rows.map(\.title)), \(rows.map(\.description)), \(rows.map(\.sector)), \(rows.map { literal($0.regions) }),
                        \(rows.map { literal($0.scenarios) }), \(rows.map { literal($0.tags) }), \(rows.map { literal($0.fields) }),
                        \(rows.map { literal($0.modes) }), \(rows.map(\.unit)), \(rows.map(\.priceFen))) AS x(i, t, d, s, r, sc, tg, f, m, u, p)
            """,
            """
            INSERT INTO product_version_sources (product_id, version, resource_id)
            SELECT p, 1, r FROM unnest(\(ids), \(rows.map(\.resourceID))) AS x(p, r)
            """,
            "UPDATE product_versions SET frozen = true WHERE product_id = ANY(\(ids))",
        ]
        try await pool.withTransaction { connection in
            for statement in statements { try await connection.execute(statement) }
        }
    }

    /// Inserts open demands expiring in 90 days; with `enqueue`, their `match_demand` jobs go in the
    /// same transaction (as posting them through the store would).
    static func insertDemands(_ rows: [DemandRow], on pool: PostgresPool, enqueue: Bool = false) async throws {
        func literal(_ values: [String]) -> String { "{" + values.joined(separator: ",") + "}" }
        let insert: PostgresQuery = """
            INSERT INTO demands (id, demander_id, title, sector, scenario, purpose, regions, fields_wanted, tags, quantity, budget_fen,
                                 delivery_modes, expires_at, state)
            SELECT i, o, t, s, sc, p::pdx_purpose, r::text[], f::text[], tg::text[], q, b, m::pdx_delivery_mode[],
                   now() + interval '90 days', 'open'
            FROM unnest(\(rows.map(\.id)), \(rows.map(\.demanderID)), \(rows.map(\.title)), \(rows.map(\.sector)), \(rows.map(\.scenario)),
                        \(rows.map(\.purpose)), \(rows.map { literal($0.regions) }), \(rows.map { literal($0.fields) }), \(rows.map { literal($0.tags) }),
                        \(rows.map(\.quantity)), \(rows.map(\.budgetFen)), \(rows.map { literal($0.modes) })) AS x(i, o, t, s, sc, p, r, f, tg, q, b, m)
            """
        let jobs = enqueue ? try rows.map { try NewJob(MatchDemandJob(demandID: $0.id), queue: matchQueue) } : []
        try await pool.withTransaction { connection in
            try await connection.execute(insert)
            try await connection.enqueue(jobs)
        }
    }
}

/// Demands with products planted to answer them (ground truth for `pdx bench match`), and more rows for
/// an existing synthetic market.
public struct SyntheticAdditions: Sendable {
    /// A planted demand and the products made for it.
    public struct Planted: Sendable {
        public var demandID: UUID
        public var productIDs: [UUID]
    }

    let context: SyntheticMarket.Context
    var random: SplitMix64
    var counter = 0

    /// Reads the market's parties, grants and resources (seeded by `SyntheticMarket.generate`).
    public static func load(from pool: PostgresPool, seed: UInt64) async throws -> SyntheticAdditions {
        SyntheticAdditions(context: try await .load(from: pool), random: SplitMix64(seed: seed ^ 0x9E37_79B9_7F4A_7C15))
    }

    /// Open demands, each with `perDemand` listed products that answer it: same sector, its region, its
    /// scenario, every field wanted and one more, its tags, a delivery mode it accepts, a title on its
    /// subject, and a price far inside its budget. Inserted without jobs.
    public mutating func plant(_ count: Int, perDemand: Int = 3, on pool: PostgresPool) async throws -> [Planted] {
        var demands: [SyntheticMarket.DemandRow] = [], products: [SyntheticMarket.ProductRow] = [], planted: [Planted] = []
        for _ in 0..<count {
            counter += 1
            let grant = context.grants[Int(random.next() % UInt64(context.grants.count))]
            let sector = grant.sectors[Int(random.next() % UInt64(grant.sectors.count))]
            let vocabulary = SyntheticMarket.vocabularies[sector]
            let region = grant.regions[Int(random.next() % UInt64(grant.regions.count))]
            let resource = try context.resource(grant, sector, region)
            let subject = vocabulary.subjects[Int(random.next() % UInt64(vocabulary.subjects.count))]
            let scenario = vocabulary.scenarios[Int(random.next() % UInt64(vocabulary.scenarios.count))]
            let fields = Array(vocabulary.fields.shuffled(using: &random).prefix(3))
            let extra = vocabulary.fields.filter { !fields.contains($0) }
            let tags = [vocabulary.sector, "need\(counter)"]
            let demand = SyntheticMarket.DemandRow(
                id: random.uuid(), demanderID: context.demanders[Int(random.next() % UInt64(context.demanders.count))],
                title: "需要\(subject.0)专项 wanted: \(subject.1) special #p\(counter)", sector: vocabulary.sector, scenario: scenario,
                purpose: "industry_development", regions: [region], fields: fields, tags: tags, quantity: 1_000, budgetFen: 100_000_000,
                modes: ["api", "sandbox"])
            var answers: [UUID] = []
            for k in 0..<perDemand {
                let id = random.uuid()
                answers.append(id)
                products.append(SyntheticMarket.ProductRow(
                    id: id, operatorID: grant.operatorID, grantID: grant.id,
                    title: "\(subject.0)专项数据 \(subject.1) special feed p\(counter)-\(k)", description: "\(region) \(subject.0) \(subject.1) 专项",
                    sector: vocabulary.sector, regions: [region], scenarios: [scenario], tags: tags,
                    fields: fields + [extra[Int(random.next() % UInt64(extra.count))]], modes: resource.important ? ["sandbox"] : ["api"],
                    unit: "call", priceFen: Int64(1 + random.next() % 20), resourceID: resource.id))
            }
            demands.append(demand)
            planted.append(Planted(demandID: demand.id, productIDs: answers))
        }
        for chunk in stride(from: 0, to: products.count, by: 5_000) {
            try await SyntheticMarket.insertProducts(Array(products[chunk..<min(products.count, chunk + 5_000)]), on: pool)
        }
        for chunk in stride(from: 0, to: demands.count, by: 5_000) {
            try await SyntheticMarket.insertDemands(Array(demands[chunk..<min(demands.count, chunk + 5_000)]), on: pool)
        }
        return planted
    }

    /// Random listed products (no jobs), returned by id.
    public mutating func products(_ count: Int, on pool: PostgresPool) async throws -> [UUID] {
        var rows: [SyntheticMarket.ProductRow] = []
        for _ in 0..<count {
            counter += 1
            rows.append(try context.randomProduct(number: 1_000_000_000 + counter, &random))
        }
        try await SyntheticMarket.insertProducts(rows, on: pool)
        return rows.map(\.id)
    }

    /// Random open demands posted in transactions of `batch`, each with its `match_demand` job.
    public mutating func postDemands(_ count: Int, batch: Int = 1_000, on pool: PostgresPool) async throws -> [UUID] {
        var posted: [UUID] = []
        while posted.count < count {
            var rows: [SyntheticMarket.DemandRow] = []
            for _ in 0..<min(batch, count - posted.count) {
                counter += 1
                rows.append(context.randomDemand(number: 1_000_000_000 + counter, &random))
            }
            try await SyntheticMarket.insertDemands(rows, on: pool, enqueue: true)
            posted += rows.map(\.id)
        }
        return posted
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
