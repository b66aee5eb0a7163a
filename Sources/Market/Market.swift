public import Foundation

public enum PartyKind: String, Sendable, Codable, CaseIterable {
    case agency, `operator`, demander
}

/// Where a party stands: active, suspended (its keys refused, nothing new from it or with it; reinstating
/// restores it), or closed (final; every record kept).
public enum PartyState: String, LifecycleState {
    case active, suspended, closed
    public static let subject = "party"
    public var successors: Set<PartyState> {
        switch self {
        case .active: [.suspended, .closed]
        case .suspended: [.active, .closed]
        case .closed: []
        }
    }
}

/// A class of party that earns its pricing only once an administrator verified it.
public enum PartyClass: String, Sendable, Codable, CaseIterable {
    /// 小微企业: the small and micro enterprise discount.
    case smallMicro = "small_micro"
    /// 事业单位: a public institution; its public-interest use is free.
    case publicInstitution = "public_institution"
    /// 社会组织 / 慈善组织: a charitable or social organization; its public-interest use is free.
    case socialOrganization = "social_organization"

    /// Classes whose declared public-interest purpose needs no agency's approval.
    public var vouchesForPublicInterest: Bool { self != .smallMicro }
}

/// An administrator's verification that a party is of a class, with its evidence and expiry.
public struct Verification: Sendable, Codable, Hashable {
    public var id: UUID
    public var partyClass: PartyClass
    public var evidence: String
    public var expiresAt: Date

    public init(id: UUID = UUID(), partyClass: PartyClass, evidence: String, expiresAt: Date) {
        self.id = id
        self.partyClass = partyClass
        self.evidence = evidence
        self.expiresAt = expiresAt
    }

    /// How a quote names it.
    public var reference: String { "verification \(id.uuidString.lowercased()), until \(expiresAt.formatted(.iso8601))" }
}

/// An agency's approval of one demand's public-interest purpose.
public struct PurposeApproval: Sendable, Codable, Hashable {
    public var id: UUID
    public var agencyID: UUID

    public init(id: UUID, agencyID: UUID) {
        self.id = id
        self.agencyID = agencyID
    }
}

/// An agency (实施机构), an operator (运营机构) or a demander (需求方).
public struct Party: Sendable, Codable, Hashable {
    public var id: UUID
    public var kind: PartyKind
    /// The legal name (in Chinese).
    public var name: String
    public var nameEN: String?
    public var creditCode: CreditCode
    public var regionCode: RegionCode
    public var state: PartyState
    /// Its verified classes that had not expired when it was read (a quote checks them at its own instant).
    public var verifications: [Verification]

    public init(id: UUID = UUID(), kind: PartyKind, name: String, nameEN: String? = nil, creditCode: CreditCode, regionCode: RegionCode,
                state: PartyState = .active, verifications: [Verification] = []) {
        self.id = id
        self.kind = kind
        self.name = name
        self.nameEN = nameEN
        self.creditCode = creditCode
        self.regionCode = regionCode
        self.state = state
        self.verifications = verifications
    }

    /// The verification of a class in force at an instant, if any (the one lasting longest).
    public func verification(_ partyClass: PartyClass, at instant: Date) -> Verification? {
        Self.verification(partyClass, in: verifications, at: instant)
    }

    static func verification(_ partyClass: PartyClass, in verifications: [Verification], at instant: Date) -> Verification? {
        verifications.filter { $0.partyClass == partyClass && $0.expiresAt > instant }.max { $0.expiresAt < $1.expiresAt }
    }
}

/// Data grading per GB/T 43697-2024.
public enum ResourceGrade: String, Sendable, Codable, CaseIterable {
    /// 一般数据
    case general
    /// 重要数据: delivered only in a sandbox.
    case important
    /// 核心数据: never in authorized operation.
    case core
}

/// A public data resource registered by an agency.
public struct DataResource: Sendable, Codable, Hashable {
    public var id: UUID
    public var agencyID: UUID
    public var title: String
    public var sector: String
    public var regionCode: RegionCode
    public var grade: ResourceGrade
    public var personalInformation: Bool
    /// When the de-identification step was performed (nil: not done).
    public var deidentifiedAt: Date?
    /// The recorded de-identification step (nil: none recorded).
    public var deidentification: DeidentificationStep?

    public init(id: UUID = UUID(), agencyID: UUID, title: String, sector: String, regionCode: RegionCode,
                grade: ResourceGrade, personalInformation: Bool = false, deidentifiedAt: Date? = nil) {
        self.id = id
        self.agencyID = agencyID
        self.title = title
        self.sector = sector
        self.regionCode = regionCode
        self.grade = grade
        self.personalInformation = personalInformation
        self.deidentifiedAt = deidentifiedAt
    }
}

/// The de-identification step a resource with personal information needs before any product uses it
/// (rule 3): how, by whom, when, and where the evidence is.
public struct DeidentificationStep: Sendable, Codable, Hashable {
    public var method: String
    public var performedBy: String
    public var performedAt: Date
    /// A reference to the evidence (a report number, a document's address); optional.
    public var evidence: String?

    public init(method: String, performedBy: String, performedAt: Date, evidence: String? = nil) {
        self.method = method
        self.performedBy = performedBy
        self.performedAt = performedAt
        self.evidence = evidence
    }

    /// Checks the text fields and that it was performed by `now` (a minute of clock skew allowed).
    public func validate(now: Date) throws(MarketInputError) {
        try validateText(method, field: "method", maxLength: 2000)
        try validateText(performedBy, field: "performed_by", maxLength: 200)
        if let evidence { try validateText(evidence, field: "evidence", maxLength: 2000) }
        guard performedAt <= now + 60 else { throw MarketInputError(field: "performed_at", rule: "must not be in the future") }
        guard performedAt >= Date(timeIntervalSince1970: 946_684_800) else {
            throw MarketInputError(field: "performed_at", rule: "must be in 2000 or later")
        }
    }
}

public enum AuthorizationMode: String, Sendable, Codable, CaseIterable {
    /// At most one operator for a (sector, region) at any moment.
    case single
    /// Several operators may share a scope.
    case multi
}

/// An agency's grant to an operator: what it may develop (sectors, regions, scenarios) and when.
public struct Authorization: Sendable, Codable, Hashable {
    public var id: UUID
    public var agencyID: UUID
    public var operatorID: UUID
    public var sectors: [String]
    public var regions: [RegionCode]
    public var scenarios: [String]
    public var mode: AuthorizationMode
    public var validFrom: Date
    public var validUntil: Date
    public var state: AuthorizationState
    /// When the state last changed, and why (a suspension's or revocation's reason; nil when none was given).
    public var stateChangedAt: Date?
    public var stateReason: String?
    /// The agency's share, per mille, of what buyers pay for products under this grant (settled in the ledger).
    public var agencySharePermille: Int = 0

    public static let longestTerm: TimeInterval = 5 * 365.25 * 86_400

    public init(id: UUID = UUID(), agencyID: UUID, operatorID: UUID, sectors: [String], regions: [RegionCode], scenarios: [String],
                mode: AuthorizationMode, validFrom: Date, validUntil: Date, state: AuthorizationState = .active) {
        self.id = id
        self.agencyID = agencyID
        self.operatorID = operatorID
        self.sectors = sectors
        self.regions = regions
        self.scenarios = scenarios
        self.mode = mode
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.state = state
    }

    /// Checks what a grant must satisfy on its own.
    public func validate() throws(MarketInputError) {
        try validateSlugs(sectors, field: "sectors")
        try validateSlugs(scenarios, field: "scenarios")
        try regions.validate(field: "regions")
        try regions.validateNotNested(field: "regions")
        guard validUntil > validFrom else { throw MarketInputError(field: "valid_until", rule: "must be after valid_from") }
        guard (0...1000).contains(agencySharePermille) else {
            throw MarketInputError(field: "agency_share_permille", rule: "must be from 0 to 1000 (per mille)")
        }
        // Calendar years: five years from 2026-03-01 end at 2031-03-01 at the latest.
        let limit = Calendar.utc.date(byAdding: .year, value: 5, to: validFrom) ?? validFrom.addingTimeInterval(Self.longestTerm)
        guard validUntil <= limit else { throw MarketInputError(field: "valid_until", rule: "must be at most 5 years after valid_from") }
    }

    /// In force at `instant`: active and within its term.
    public func isInForce(at instant: Date) -> Bool {
        state == .active && validFrom <= instant && instant < validUntil
    }

    /// Whether the scope reaches a sector in some of the regions: a region of the grant covers one of
    /// them, or lies within one (a province-wide product reaches into a district's grant).
    public func covers(sector: String, anyOf regions: [RegionCode]) -> Bool {
        sectors.contains(sector) && self.regions.overlaps(regions)
    }
}

public enum DeliveryMode: String, Sendable, Codable, CaseIterable, Comparable {
    case api, file
    /// 可用不可见: computation goes to the data; the raw data never leaves.
    case sandbox
    public static func < (a: DeliveryMode, b: DeliveryMode) -> Bool { a.rawValue < b.rawValue }
}

public enum ChargeUnit: String, Sendable, Codable, CaseIterable {
    /// 件
    case item
    /// 次
    case call
    /// 时
    case hour
    /// 条 (data volume)
    case record
}

/// What an operator publishes: one version of a data product or service.
public struct ProductVersion: Sendable, Codable, Hashable {
    public var title: String
    public var description: String
    public var sector: String
    public var regions: [RegionCode]
    public var scenarios: [String]
    public var tags: [String]
    public var fields: [String]
    public var deliveryModes: [DeliveryMode]
    public var chargeUnit: ChargeUnit
    public var listPriceFen: Int64
    public var sourceResourceIDs: [UUID]

    public init(title: String, description: String = "", sector: String, regions: [RegionCode], scenarios: [String], tags: [String] = [],
                fields: [String], deliveryModes: [DeliveryMode], chargeUnit: ChargeUnit, listPriceFen: Int64, sourceResourceIDs: [UUID]) {
        self.title = title
        self.description = description
        self.sector = sector
        self.regions = regions
        self.scenarios = scenarios
        self.tags = tags
        self.fields = fields
        self.deliveryModes = deliveryModes
        self.chargeUnit = chargeUnit
        self.listPriceFen = listPriceFen
        self.sourceResourceIDs = sourceResourceIDs
    }

    public func validate() throws(MarketInputError) {
        try validateText(title, field: "title", maxLength: 200)
        try validateText(description, field: "description", maxLength: 20_000, required: false)
        try validateSlugs([sector], field: "sector")
        try regions.validate(field: "regions")
        try validateSlugs(scenarios, field: "scenarios")
        try validateSlugs(tags, field: "tags", allowEmpty: true)
        try validateSlugs(fields, field: "fields")
        guard !deliveryModes.isEmpty, Set(deliveryModes).count == deliveryModes.count else {
            throw MarketInputError(field: "delivery_modes", rule: "must name api, file or sandbox, each at most once")
        }
        try Money.validate(listPriceFen, field: "list_price_fen", maximum: Money.maximumUnitPriceFen)
        guard !sourceResourceIDs.isEmpty, Set(sourceResourceIDs).count == sourceResourceIDs.count else {
            throw MarketInputError(field: "source_resource_ids", rule: "must name at least one resource, each once")
        }
    }
}

/// Why a demander wants data; public governance and public welfare use it free of charge.
public enum Purpose: String, Sendable, Codable, CaseIterable {
    case publicGovernance = "public_governance"
    case publicWelfare = "public_welfare"
    case industryDevelopment = "industry_development"
    case sectorDevelopment = "sector_development"

    public var isPublicInterest: Bool { self == .publicGovernance || self == .publicWelfare }
}

/// A demand request tied to a business scenario.
public struct DemandRequest: Sendable, Codable, Hashable {
    public var title: String
    public var description: String
    public var sector: String
    public var scenario: String
    public var purpose: Purpose
    public var regions: [RegionCode]
    public var fieldsWanted: [String]
    public var tags: [String]
    public var quantity: Int64
    public var budgetFen: Int64
    public var deliveryModes: [DeliveryMode]
    public var expiresAt: Date

    public init(title: String, description: String = "", sector: String, scenario: String, purpose: Purpose, regions: [RegionCode],
                fieldsWanted: [String], tags: [String] = [], quantity: Int64, budgetFen: Int64, deliveryModes: [DeliveryMode], expiresAt: Date) {
        self.title = title
        self.description = description
        self.sector = sector
        self.scenario = scenario
        self.purpose = purpose
        self.regions = regions
        self.fieldsWanted = fieldsWanted
        self.tags = tags
        self.quantity = quantity
        self.budgetFen = budgetFen
        self.deliveryModes = deliveryModes
        self.expiresAt = expiresAt
    }

    public func validate(now: Date) throws(MarketInputError) {
        try validateText(title, field: "title", maxLength: 200)
        try validateText(description, field: "description", maxLength: 20_000, required: false)
        try validateSlugs([sector], field: "sector")
        try validateSlugs([scenario], field: "scenario")
        try regions.validate(field: "regions")
        try validateSlugs(fieldsWanted, field: "fields_wanted")
        try validateSlugs(tags, field: "tags", allowEmpty: true)
        guard (1...Money.maximumQuantity).contains(quantity) else { throw MarketInputError(field: "quantity", rule: "must be from 1 to 10^12") }
        try Money.validate(budgetFen, field: "budget_fen")
        guard !deliveryModes.isEmpty, Set(deliveryModes).count == deliveryModes.count else {
            throw MarketInputError(field: "delivery_modes", rule: "must name api, file or sandbox, each at most once")
        }
        guard expiresAt > now else { throw MarketInputError(field: "expires_at", rule: "must be in the future") }
    }
}

extension Calendar {
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0) ?? calendar.timeZone
        return calendar
    }()
}
