public import JobQueue
public import Logging
public import MarketStore

/// The market's job handlers, registered by `pdx work`. Matching and notification handlers come with
/// the matching issue.
public enum MarketWorkers {
    public static func register(into registry: inout JobRegistry, store: MarketStore, logger: Logger) {
        registry.register(RepriceMatchesJob.self, timeout: .seconds(300)) { job in
            let result = try await store.repriceProposedMatches()
            logger.info("repriced proposed matches", metadata: [
                "pricing.rule": "\(job.args.ruleID)", "match.repriced": "\(result.repriced)", "match.withdrawn": "\(result.withdrawn.count)",
            ])
            return .completed
        }
    }
}
