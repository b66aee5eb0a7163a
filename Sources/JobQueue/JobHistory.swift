#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Postgres

extension JobAdmin {
    /// The queue per hour and per kind of job: jobs due and not finished at the end of each hour (waiting,
    /// running or waiting to retry; not those scheduled for later), jobs completed and
    /// attempts failed within it. Read from the jobs still in the table (a job pruned is gone from it).
    public struct Hourly: Sendable, Equatable {
        /// The start of each hour, oldest first.
        public var hours: [Date]
        /// Per kind, one value per hour.
        public var depth: [String: [Int]]
        public var completed: [String: [Int]]
        public var failed: [String: [Int]]
    }

    /// The last `hours` hours (1 to 168), the current one included. Bounded: only jobs finalized within the
    /// window (through their index) and jobs not finalized are read.
    public static func hourly(hours: Int, on connection: PostgresConnection) async throws -> Hourly {
        guard (1...168).contains(hours) else { throw JobInputError(field: "hours", rule: "must be from 1 to 168") }
        let rows = try await connection.query("""
            WITH hours AS (
                SELECT generate_series(date_trunc('hour', now()) - make_interval(hours => \(Int32(hours - 1))), date_trunc('hour', now()), interval '1 hour') AS h
            ), jobs AS (
                SELECT kind, state, created_at, scheduled_at, finalized_at, errors FROM pdx_jobs
                WHERE finalized_at >= (SELECT min(h) FROM hours)
                UNION ALL
                SELECT kind, state, created_at, scheduled_at, finalized_at, errors FROM pdx_jobs WHERE finalized_at IS NULL
            )
            SELECT 'depth', hours.h, jobs.kind, count(*) FROM hours JOIN jobs
                ON jobs.created_at < least(hours.h + interval '1 hour', now()) AND jobs.scheduled_at <= least(hours.h + interval '1 hour', now()) AND coalesce(jobs.finalized_at, 'infinity') >= least(hours.h + interval '1 hour', now())
                GROUP BY 2, 3
            UNION ALL
            SELECT 'completed', date_trunc('hour', finalized_at), kind, count(*) FROM jobs WHERE state = 'completed' AND finalized_at IS NOT NULL GROUP BY 2, 3
            UNION ALL
            SELECT 'failed', date_trunc('hour', (e ->> 'at')::timestamptz), kind, count(*) FROM jobs, jsonb_array_elements(errors) e
                WHERE (e ->> 'at')::timestamptz >= (SELECT min(h) FROM hours) GROUP BY 2, 3
            UNION ALL
            SELECT 'hour', h, '', 0 FROM hours
            """)
        var hourly = Hourly(hours: [], depth: [:], completed: [:], failed: [:])
        var entries: [(String, Date, String, Int)] = []
        for row in rows {
            let (series, hour, kind, count) = try row.decode(String.self, Date.self, String.self, Int64.self)
            if series == "hour" { hourly.hours.append(hour) } else { entries.append((series, hour, kind, Int(count))) }
        }
        hourly.hours.sort()
        let index = Dictionary(uniqueKeysWithValues: hourly.hours.enumerated().map { ($1, $0) })
        for (series, hour, kind, count) in entries {
            guard let at = index[hour] else { continue }
            switch series {
            case "depth": hourly.depth[kind, default: Array(repeating: 0, count: hourly.hours.count)][at] += count
            case "completed": hourly.completed[kind, default: Array(repeating: 0, count: hourly.hours.count)][at] += count
            default: hourly.failed[kind, default: Array(repeating: 0, count: hourly.hours.count)][at] += count
            }
        }
        return hourly
    }
}
