public import Foundation

/// A rule of DOMAIN.md that an action would break. `rule` is stable: the API reports it as the error
/// code, tests match on it.
public struct PolicyViolation: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Rule: String, Sendable, Codable, CaseIterable {
        /// Rule 1: products only from resources inside an active authorization of their operator.
        case scope = "out_of_scope"
        /// Rule 2: at most one operator for a (sector, region) at any moment under single-operator mode.
        case singleOperator = "single_operator_overlap"
        /// Rule 3: core data is never in authorized operation.
        case coreData = "grade_core"
        /// Rule 3: important data only in a sandbox.
        case importantData = "grade_important_needs_sandbox"
        /// Rule 3: personal information only after a recorded de-identification.
        case personalInformation = "personal_information_not_deidentified"
        /// Rule 5: an operator's list price may not exceed the cap in force.
        case capExceeded = "cap_exceeded"
        /// Rule 4: an operator may not buy or re-develop products within its own authorized scope.
        case antiMonopoly = "anti_monopoly"
        /// A product offered or sold outside a demand's or a buyer's hard limits (sector, region, delivery
        /// mode, budget): what the matching workers would never propose.
        case hardRules = "hard_rules_not_met"
        /// Rule 4's second half: a derived product cites only completed orders of its seller, a registered
        /// re-developer.
        case derivation = "derivation_not_allowed"
    }

    public var rule: Rule
    public var message: String

    public init(_ rule: Rule, _ message: String) {
        self.rule = rule
        self.message = message
    }

    public var description: String { message }
}

/// The policy checks of the market, as pure functions of the facts they need.
public enum Policy {
    /// Rule 1: a product version lies inside an authorization in force of its operator: its sector,
    /// regions and scenarios, and every source resource (registered by the granting agency, in a
    /// sector and region of the grant).
    public static func checkScope(of version: ProductVersion, operatorID: UUID, authorization: Authorization,
                                  sources: [DataResource], at instant: Date) throws(PolicyViolation) {
        func refuse(_ why: String) -> PolicyViolation { PolicyViolation(.scope, why) }
        guard authorization.operatorID == operatorID else { throw refuse("authorization \(authorization.id) was granted to another operator") }
        guard authorization.state == .active else { throw refuse("authorization \(authorization.id) is \(authorization.state.rawValue), not active") }
        guard authorization.validFrom <= instant, instant < authorization.validUntil else {
            throw refuse("authorization \(authorization.id) is not within its term at this time")
        }
        guard authorization.sectors.contains(version.sector) else {
            throw refuse("sector \(version.sector) is outside the authorization's sectors (\(authorization.sectors.joined(separator: ", ")))")
        }
        // A grant for a province covers its cities and districts.
        if let region = version.regions.first(where: { !authorization.regions.covers([$0]) }) {
            throw refuse("region \(region) is outside the authorization's regions")
        }
        if let scenario = version.scenarios.first(where: { !authorization.scenarios.contains($0) }) {
            throw refuse("scenario \(scenario) is outside the authorization's scenarios")
        }
        let byID = Dictionary(sources.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for id in version.sourceResourceIDs {
            guard let resource = byID[id] else { throw refuse("source resource \(id) does not exist") }
            guard resource.agencyID == authorization.agencyID else {
                throw refuse("resource \(id) was registered by another agency than the one that granted the authorization")
            }
            guard authorization.sectors.contains(resource.sector), authorization.regions.covers([resource.regionCode]) else {
                throw refuse("resource \(id) (\(resource.sector), \(resource.regionCode)) is outside the authorization's scope")
            }
        }
    }

    /// Rule 3: grading of every source resource against the version's delivery modes.
    public static func checkGrading(of version: ProductVersion, sources: [DataResource]) throws(PolicyViolation) {
        for resource in sources where version.sourceResourceIDs.contains(resource.id) {
            switch resource.grade {
            case .core:
                throw PolicyViolation(.coreData, "resource \(resource.id) is core data, which is never in authorized operation")
            case .important where version.deliveryModes != [.sandbox]:
                throw PolicyViolation(.importantData, "resource \(resource.id) is important data: deliver it only in a sandbox, not by \(version.deliveryModes.filter { $0 != .sandbox }.map(\.rawValue).joined(separator: ", "))")
            case .important, .general:
                break
            }
            if resource.personalInformation && resource.deidentifiedAt == nil {
                throw PolicyViolation(.personalInformation, "resource \(resource.id) holds personal information and has no recorded de-identification")
            }
        }
    }

    /// Rule 4: an operator may not, directly or indirectly, buy a product delivered within its own
    /// authorized scope (sector and any region of an authorization in force). `authorizations` are those
    /// held by the buyer and by every party affiliated with it (directly or through others): an operator's
    /// subsidiary, parent or sister company buys as the operator would. Any other buyer may.
    public static func checkAntiMonopoly(buyer: Party, authorizations: [Authorization], product: ProductVersion,
                                         at instant: Date) throws(PolicyViolation) {
        for authorization in authorizations where authorization.isInForce(at: instant) {
            if authorization.covers(sector: product.sector, anyOf: product.regions) {
                let how = authorization.operatorID == buyer.id ? "" : " through the affiliated operator \(authorization.operatorID.uuidString.lowercased())"
                throw PolicyViolation(.antiMonopoly, "an operator may not, directly or indirectly, buy or re-develop products within its own authorized scope (authorization \(authorization.id.uuidString.lowercased())\(how), sector \(product.sector))")
            }
        }
    }
}
