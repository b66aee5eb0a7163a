import Synchronization

/// How fast one API key may call: `perSecond` requests a second on average, in bursts of up to `burst`.
public struct RateLimit: Sendable, Equatable {
    public var perSecond: Double
    public var burst: Int

    public init(perSecond: Double, burst: Int) {
        precondition(perSecond > 0 && burst >= 1, "a rate limit needs a positive rate and a burst of at least 1")
        self.perSecond = perSecond
        self.burst = burst
    }
}

/// A token bucket per API key, in this process (each `pdx serve` process limits on its own).
final class RateLimiter: Sendable {
    let limit: RateLimit
    private let buckets = Mutex<[String: Bucket]>([:])

    private struct Bucket {
        var tokens: Double
        var refilled: ContinuousClock.Instant
    }

    init(_ limit: RateLimit) {
        self.limit = limit
    }

    /// Takes one request's token for `key`: nil if it may go, else the seconds until it may.
    func take(_ key: String, now: ContinuousClock.Instant = .now) -> Double? {
        buckets.withLock { buckets in
            // Keys idle long enough to be full again need no memory.
            if buckets.count > 100_000 { buckets = buckets.filter { self.refill($0.value, now).tokens < Double(limit.burst) } }
            var bucket = refill(buckets[key] ?? Bucket(tokens: Double(limit.burst), refilled: now), now)
            defer { buckets[key] = bucket }
            guard bucket.tokens >= 1 else { return (1 - bucket.tokens) / limit.perSecond }
            bucket.tokens -= 1
            return nil
        }
    }

    private func refill(_ bucket: Bucket, _ now: ContinuousClock.Instant) -> Bucket {
        let elapsed = now - bucket.refilled
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Bucket(tokens: min(Double(limit.burst), bucket.tokens + seconds * limit.perSecond), refilled: now)
    }
}
