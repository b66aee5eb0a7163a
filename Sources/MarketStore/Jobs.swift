public import Foundation
public import JobQueue

/// The queue the market's matching jobs go to.
public let matchQueue = "match"

/// Find the best products for a demand that was opened or changed.
public struct MatchDemandJob: JobArguments {
    public static let kind = "match_demand"
    public var demandID: UUID

    public init(demandID: UUID) { self.demandID = demandID }
}

/// Find the open demands a product (a new listing or version) serves.
public struct MatchProductJob: JobArguments {
    public static let kind = "match_product"
    public var productID: UUID
    public var version: Int

    public init(productID: UUID, version: Int) {
        self.productID = productID
        self.version = version
    }
}

/// Recompute the quotes of proposed matches after a pricing rule changed.
public struct RepriceMatchesJob: JobArguments {
    public static let kind = "reprice_matches"
    /// The rule that changed (for the log; every proposed match is repriced).
    public var ruleID: Int64

    public init(ruleID: Int64) { self.ruleID = ruleID }
}

/// Expire a demand when it reaches its `expires_at` (scheduled when it opens).
public struct ExpireDemandJob: JobArguments {
    public static let kind = "expire_demand"
    public var demandID: UUID

    public init(demandID: UUID) { self.demandID = demandID }
}

/// Expire an authorization at the end of its term (scheduled when it is granted): its products are
/// delisted and their proposals withdrawn.
public struct ExpireAuthorizationJob: JobArguments {
    public static let kind = "expire_authorization"
    public var authorizationID: UUID

    public init(authorizationID: UUID) { self.authorizationID = authorizationID }
}

/// Make a product's announced version current when its notice period ends (scheduled when a revision
/// that can raise a price is announced); its proposals are requoted in the same transaction.
public struct ApplyProductVersionJob: JobArguments {
    public static let kind = "apply_product_version"
    public var productID: UUID

    public init(productID: UUID) { self.productID = productID }
}
