public import JobQueue
public import Logging
public import MarketStore

/// The market's job handlers, registered by `pdx work`: matching a demand, matching a new product, and
/// repricing. Expiry and notifications come with the rest of the matching issue.
public enum MarketWorkers {
    public static func register(into registry: inout JobRegistry, store: MarketStore, logger: Logger) {
        registry.register(MatchDemandJob.self, timeout: .seconds(60)) { job in
            let result = try await store.matchDemand(job.args.demandID)
            logger.info("matched demand", metadata: [
                "demand.id": "\(job.args.demandID)", "match.candidates": "\(result.candidates)", "match.proposed": "\(result.proposed.count)",
            ])
            return .completed
        }
        registry.register(MatchProductJob.self, timeout: .seconds(120)) { job in
            let proposed = try await store.matchProduct(job.args.productID)
            logger.info("matched product", metadata: ["product.id": "\(job.args.productID)", "match.proposed": "\(proposed.count)"])
            return .completed
        }
        registry.register(RepriceMatchesJob.self, timeout: .seconds(300)) { job in
            let result = try await store.repriceProposedMatches()
            logger.info("repriced proposed matches", metadata: [
                "pricing.rule": "\(job.args.ruleID)", "match.repriced": "\(result.repriced)", "match.withdrawn": "\(result.withdrawn.count)",
            ])
            return .completed
        }
    }
}
