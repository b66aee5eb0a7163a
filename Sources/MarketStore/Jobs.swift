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
