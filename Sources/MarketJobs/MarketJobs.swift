public import Foundation
public import JobQueue

/// The market's job kinds and the queues they go to: what MarketStore enqueues in the transactions of
/// the changes they react to, and what MarketWorkers' handlers run.
public enum MarketJobs {
    /// Every queue the market's jobs go to: what a bare `pdx work` serves.
    public static let queues = [NewJob.defaultQueue, matchQueue]
}

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

/// Recompute the quotes of one buyer's proposed matches after its verified classes changed (scheduled
/// when a verification expires).
public struct RepriceBuyerJob: JobArguments {
    public static let kind = "reprice_buyer"
    public var partyID: UUID
    /// Why (for the log and the audit trail).
    public var reason: String

    public init(partyID: UUID, reason: String) {
        self.partyID = partyID
        self.reason = reason
    }
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

/// Deliver one event to one party's webhook (`notify`, on the default queue, retried with backoff).
public struct NotifyJob: JobArguments {
    public static let kind = "notify"
    /// The event's id, the same on every attempt, so a receiver can drop a redelivery.
    public var eventID: UUID
    public var partyID: UUID
    /// `MarketEvent.type`.
    public var type: String
    /// The match or order.
    public var subjectID: UUID
    public var occurredAt: Date

    public init(eventID: UUID = UUID(), partyID: UUID, type: String, subjectID: UUID, occurredAt: Date) {
        self.eventID = eventID
        self.partyID = partyID
        self.type = type
        self.subjectID = subjectID
        self.occurredAt = occurredAt
    }

    /// How many times a delivery is tried: with the queue's backoff (1 s doubling, up to 6 h), about a day.
    public static let maxAttempts = 16
}

/// End an entitlement when its end date comes (enqueued by the database when the order is delivered).
public struct ExpireEntitlementJob: JobArguments {
    public static let kind = "expire_entitlement"
    public var entitlementID: UUID

    public init(entitlementID: UUID) { self.entitlementID = entitlementID }
}

/// Close a billing month (`YYYY-MM`) and every earlier one still open: issue its statements and ledger
/// entries. Scheduled for the first day of each month (a day's grace after the month ends), and run on
/// demand by `pdxctl billing close`. When `scheduleNext`, it schedules the next month's.
public struct ClosePeriodJob: JobArguments {
    public static let kind = "close_period"
    public var period: String
    public var scheduleNext: Bool

    public init(period: String, scheduleNext: Bool = true) {
        self.period = period
        self.scheduleNext = scheduleNext
    }

    /// The unique key of a month's scheduled close.
    public static func uniqueKey(_ period: String) -> String { "close_period:\(period)" }
}

/// Run a buyer's sandbox analysis against its dataset and store its noisy result (enqueued when it is
/// submitted; its epsilon is already spent).
public struct SandboxAnalysisJob: JobArguments {
    public static let kind = "sandbox_analysis"
    public var analysisID: UUID

    public init(analysisID: UUID) { self.analysisID = analysisID }
}
