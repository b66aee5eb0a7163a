import Foundation
import Market
public import JobQueue
public import Logging
public import MarketStore
import MarketJobs

/// The market's job handlers, registered by `pdx work`: matching a demand or a new product, repricing,
/// expiring demands and authorizations when their time comes, and delivering webhook notifications.
public enum MarketWorkers {
    /// Every queue the market's jobs go to (what a bare `pdx work` serves).
    public static let queues = MarketJobs.queues

    /// `webhooks` decides where deliveries may go (checked again before each one). With a `matcher`,
    /// demands are matched in batches (against its catalogue in memory), else one job at a time.
    public static func register(into registry: inout JobRegistry, store: MarketStore, webhooks: WebhookPolicy = WebhookPolicy(),
                                matcher: DemandMatcher? = nil, logger: Logger) {
        registry.register(MatchDemandJob.self, timeout: .seconds(60)) { job in
            if let matcher {
                try await matcher.match(job)
                return .completed
            }
            let result = try await store.matchDemand(job.args.demandID)
            logger.debug("matched demand", metadata: [
                "demand.id": "\(job.args.demandID)", "match.candidates": "\(result.candidates)", "match.proposed": "\(result.proposed.count)",
            ])
            return .completed
        }
        registry.register(MatchProductJob.self, timeout: .seconds(120)) { job in
            let proposed = try await store.matchProduct(job.args.productID)
            logger.debug("matched product", metadata: ["product.id": "\(job.args.productID)", "match.proposed": "\(proposed.count)"])
            return .completed
        }
        registry.register(RepriceMatchesJob.self, timeout: .seconds(300)) { job in
            let result = try await store.repriceProposedMatches()
            logger.info("repriced proposed matches", metadata: [
                "pricing.rule": "\(job.args.ruleID)", "match.repriced": "\(result.repriced)", "match.withdrawn": "\(result.withdrawn.count)",
            ])
            return .completed
        }
        registry.register(RepriceBuyerJob.self, timeout: .seconds(120)) { job in
            let result = try await store.repriceProposedMatches(demander: job.args.partyID, reason: job.args.reason)
            logger.info("repriced a buyer's proposed matches", metadata: [
                "party.id": "\(job.args.partyID)", "match.repriced": "\(result.repriced)", "match.withdrawn": "\(result.withdrawn.count)",
            ])
            return .completed
        }
        registry.register(ExpireDemandJob.self, timeout: .seconds(30)) { job in
            outcome(of: try await store.expireDemand(job.args.demandID), "demand", "\(job.args.demandID)", logger)
        }
        registry.register(ExpireAuthorizationJob.self, timeout: .seconds(120)) { job in
            outcome(of: try await store.expireAuthorization(job.args.authorizationID), "authorization", "\(job.args.authorizationID)", logger)
        }
        registry.register(ApplyProductVersionJob.self, timeout: .seconds(120)) { job in
            switch try await store.applyPendingVersion(of: job.args.productID) {
            case .applied(let version):
                logger.info("announced product version applied", metadata: ["product.id": "\(job.args.productID)", "product.version": "\(version)"])
                return .completed
            case .notDue(let until):
                return .snooze(.seconds(max(1, until.timeIntervalSinceNow)))
            case .nothingToDo:
                return .completed
            }
        }
        registry.register(ExpireEntitlementJob.self, timeout: .seconds(30)) { job in
            let entitlement = try await store.entitlement(job.args.entitlementID)
            if entitlement.endsAt > Date() + 1, entitlement.state == .active || entitlement.state == .suspended {
                return .snooze(.seconds(max(1, entitlement.endsAt.timeIntervalSinceNow)))
            }
            if try await store.expireEntitlement(job.args.entitlementID) {
                logger.info("entitlement expired", metadata: ["entitlement.id": "\(job.args.entitlementID)"])
            }
            return .completed
        }
        registry.register(ClosePeriodJob.self, timeout: .seconds(1800)) { job in
            let period = try BillingPeriod(job.args.period)
            let closes = try await store.closePeriods(through: period, by: "pdx work (close_period)")
            for close in closes where !close.alreadyClosed {
                logger.info("billing period closed", metadata: [
                    "billing.period": "\(close.period)", "billing.issued": "\(close.issued)", "billing.statements": "\(close.statements)",
                ])
            }
            if job.args.scheduleNext { try await store.scheduleClose(of: period.next) }
            return .completed
        }
        // The dataset's own timeout (at most 10 minutes) ends a runaway analysis first.
        registry.register(SandboxAnalysisJob.self, timeout: .seconds(660)) { job in
            let outcome: SandboxRunOutcome
            do {
                outcome = try await store.runSandboxAnalysis(job.args.analysisID)
            } catch where job.attempt >= job.maxAttempts {
                // The last try: the analysis ends, its buyer hears, and the epsilon it never used comes back.
                logger.warning("sandbox analysis could not run", metadata: ["analysis.id": "\(job.args.analysisID)", "error": "\(error)"])
                outcome = try await store.failSandboxAnalysis(job.args.analysisID, because: "it could not run in \(job.maxAttempts) attempts")
            }
            switch outcome {
            case .done(let released, let suppressed):
                logger.info("sandbox analysis done", metadata: [
                    "analysis.id": "\(job.args.analysisID)", "analysis.released": "\(released)", "analysis.suppressed": "\(suppressed)",
                ])
            case .failed(let why):
                logger.info("sandbox analysis failed", metadata: ["analysis.id": "\(job.args.analysisID)", "analysis.failure": "\(why)"])
            case .nothingToDo:
                break
            }
            return .completed
        }
        registry.register(NotifyJob.self, timeout: .seconds(30)) { job in
            let administrators = job.args.type.hasPrefix("revenue.")
            guard let webhook = administrators ? try await store.adminWebhook() : try await store.webhook(of: job.args.partyID) else {
                return .cancel(reason: "party \(job.args.partyID) has no webhook any more")
            }
            let address: String?
            do {
                // A host that does not resolve now throws: retried later, like any failed delivery.
                address = try await store.checkBeforeDelivery(webhook, policy: webhooks)
            } catch let refused as MarketInputError {
                // Not a failure to retry: the URL points somewhere pdx does not call.
                logger.warning("webhook refused", metadata: ["party.id": "\(job.args.partyID)", "webhook.refusal": "\(refused.rule)"])
                return .cancel(reason: "webhook \(refused)")
            }
            let status = try await Webhooks.deliver(try await store.webhookEvent(job.args), to: webhook, address: address)
            logger.debug("delivered webhook", metadata: ["event.id": "\(job.args.eventID)", "event.type": "\(job.args.type)", "http.status": "\(status)"])
            return .completed
        }
    }

    static func outcome(of expiry: MarketStore.Expiry, _ subject: String, _ id: String, _ logger: Logger) -> JobOutcome {
        switch expiry {
        case .expired(let withdrawn):
            logger.info("\(subject) expired", metadata: ["\(subject).id": "\(id)", "match.withdrawn": "\(withdrawn)"])
            return .completed
        case .notDue(let until):
            return .snooze(.seconds(max(1, until.timeIntervalSinceNow)))
        case .nothingToDo:
            return .completed
        }
    }
}
