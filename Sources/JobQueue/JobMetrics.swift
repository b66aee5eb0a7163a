import CoreMetrics

/// The queue's metrics for one queue, made once with fixed dimensions.
struct QueueMetrics: Sendable {
    let claimed: Counter
    let completed: Counter
    let failed: Counter
    let discarded: Counter
    /// From the moment a job became available to the moment its handler started.
    let wait: Timer
    /// How long handlers ran.
    let run: Timer
    /// Available jobs, as the leader last counted them.
    let depth: Gauge

    init(queue: String, factory: any MetricsFactory) {
        let dimensions = [("queue", queue)]
        claimed = Counter(label: "pdx_jobs_claimed_total", dimensions: dimensions, factory: factory)
        completed = Counter(label: "pdx_jobs_completed_total", dimensions: dimensions, factory: factory)
        failed = Counter(label: "pdx_jobs_failed_total", dimensions: dimensions, factory: factory)
        discarded = Counter(label: "pdx_jobs_discarded_total", dimensions: dimensions, factory: factory)
        wait = Timer(label: "pdx_job_wait_seconds", dimensions: dimensions, preferredDisplayUnit: .milliseconds, factory: factory)
        run = Timer(label: "pdx_job_run_seconds", dimensions: dimensions, preferredDisplayUnit: .milliseconds, factory: factory)
        depth = Gauge(label: "pdx_queue_depth", dimensions: dimensions, factory: factory)
    }
}
