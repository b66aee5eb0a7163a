public import Foundation
import Market
public import Postgres
import Synchronization

/// The listed catalogue held in memory by a matching worker, indexed by the match keys the `catalogue`
/// table's GIN index holds (sector, region and its divisions, delivery mode), so that finding and scoring a
/// demand's candidates costs no query.
///
/// It is a copy that may lag: `follow(_:)` loads it when `LISTEN pdx_catalogue` is in effect (at start and
/// after every reconnect, when what was announced meanwhile is lost) and applies each announced change,
/// coalesced, by reading the changed rows again; authorizations' terms are read with every change and every
/// `authorizationsMaximumAge`. A product that left the catalogue since is refused by the proposal's own
/// check (`propose` locks it `FOR SHARE` and reads it listed at its version), so a stale copy can cost a
/// proposal slot, never a wrong proposal; a product listed since gets its own `match_product` job. Until it
/// has loaded, and whenever it stops listening, `isReady` is false and matching reads the database.
public final class CatalogueMemory: Sendable {
    struct Entry: Sendable {
        var product: PricedProduct
        var version: Int
        var authorizationID: UUID
        var keys: [String]
        /// The character bigrams of the title and description (the text score), computed once.
        var text: Matching.Bigrams
    }

    struct Grant: Sendable {
        var operatorID: UUID
        var validity: TimeRange
    }

    /// A range of time as PostgreSQL's `tstzrange` holds it.
    struct TimeRange: Sendable {
        var lower: Date?
        var upper: Date?
        var lowerInclusive: Bool
        var upperInclusive: Bool
        func contains(_ instant: Date) -> Bool {
            let afterLower = lower.map { lowerInclusive ? instant >= $0 : instant > $0 } ?? true
            let beforeUpper = upper.map { upperInclusive ? instant <= $0 : instant < $0 } ?? true
            return afterLower && beforeUpper
        }
    }

    private struct State {
        var entries: [UUID: Entry] = [:]
        var byKey: [String: [UUID]] = [:]
        var grants: [UUID: Grant] = [:]
        var operatorSince: [UUID: Date] = [:]
        var ready = false
        /// Moves on every change applied (or full load).
        var generation: UInt64 = 0
        var grantsReadAt: ContinuousClock.Instant = .now
    }

    private let state = Mutex(State())
    /// How long authorizations' terms are kept without a change announced before they are read again.
    public let authorizationsMaximumAge: Duration

    public init(authorizationsMaximumAge: Duration = .seconds(10)) {
        self.authorizationsMaximumAge = authorizationsMaximumAge
    }

    /// Loaded and listening: its candidates may stand in for the database's.
    public var isReady: Bool { state.withLock { $0.ready } }

    /// Products held now.
    public var count: Int { state.withLock { $0.entries.count } }

    /// Moves on every change applied.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Whether `product` is held at `version` (for tests and the staleness figure).
    public func holds(_ product: UUID, version: Int? = nil) -> Bool {
        state.withLock { state in state.entries[product].map { version == nil || $0.version == version } ?? false }
    }

    // MARK: Loading and following

    /// Keeps the copy current until the task is cancelled: loads it whenever `LISTEN pdx_catalogue` is (again)
    /// in effect, applies each change announced, and reads authorizations' terms again when they are older
    /// than `authorizationsMaximumAge`. Errors are logged by the caller through `onError` and retried.
    public func follow(_ listener: PostgresListener, pool: PostgresPool,
                       onError: @escaping @Sendable (any Error) -> Void = { _ in }) async throws {
        let events = try listener.subscribe(to: "pdx_catalogue")
        // Announcements gather here while a read is under way, so that a burst costs one read.
        let inbox = Inbox()
        let (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events {
                    inbox.state.withLock { inbox in
                        switch event {
                        case .listening: inbox.mustLoad = true
                        case .notification(let notification):
                            if let id = UUID(uuidString: notification.payload) { inbox.ids.insert(id) } else { inbox.mustLoad = true }
                        }
                    }
                    wake.yield()
                }
                wake.finish()
            }
            for await _ in wakes {
                let (ids, mustLoad) = inbox.state.withLock { inbox in
                    defer { inbox = (ids: [], mustLoad: false) }
                    return (Array(inbox.ids), inbox.mustLoad)
                }
                do {
                    if mustLoad {
                        state.withLock { $0.ready = false }
                        try await load(from: pool)
                    } else if !ids.isEmpty {
                        try await refresh(ids, from: pool)
                    }
                } catch {
                    if Task.isCancelled { break }
                    state.withLock { $0.ready = false }
                    onError(error)
                    try? await Task.sleep(for: .seconds(1))
                    inbox.state.withLock { $0.mustLoad = true }
                    wake.yield()
                }
            }
            group.cancelAll()
        }
        state.withLock { $0.ready = false }
    }

    private final class Inbox: Sendable {
        let state = Mutex((ids: Set<UUID>(), mustLoad: false))
    }

    /// Reads the whole catalogue and every authorization, and replaces the copy with them. The catalogue is
    /// read in pages of `page` products (in one snapshot), so that the rows read never sit in memory beside
    /// the whole copy.
    public func load(from pool: PostgresPool, page: Int = 5_000) async throws {
        let (held, byKey, grants) = try await pool.withConnection { connection in
            try await connection.transaction(isolation: .repeatableRead, readOnly: true) { connection in
                var byKey: [String: [UUID]] = [:]
                var held: [UUID: Entry] = [:]
                var after: UUID? = nil
                while true {
                    let entries = try await connection.catalogueEntries(after: after, limit: page)
                    for entry in entries {
                        held[entry.product.id] = entry
                        for key in entry.keys { byKey[key, default: []].append(entry.product.id) }
                    }
                    guard entries.count == page, let last = entries.last else { break }
                    after = last.product.id
                }
                return (held, byKey, try await connection.grants())
            }
        }
        state.withLock { state in
            state.entries = held
            state.byKey = byKey
            (state.grants, state.operatorSince) = grants
            state.grantsReadAt = .now
            state.generation &+= 1
            state.ready = true
        }
    }

    /// Reads the given products again (those gone from the catalogue leave the copy) and the authorizations.
    public func refresh(_ ids: [UUID], from pool: PostgresPool) async throws {
        let (entries, grants) = try await pool.withConnection { connection in
            (try await connection.catalogueEntries(ids), try await connection.grants())
        }
        let found = Dictionary(entries.map { ($0.product.id, $0) }) { first, _ in first }
        state.withLock { state in
            for id in ids {
                if let old = state.entries.removeValue(forKey: id) {
                    for key in old.keys { state.byKey[key]?.removeAll { $0 == id } }
                }
                if let entry = found[id] {
                    state.entries[id] = entry
                    for key in entry.keys { state.byKey[key, default: []].append(id) }
                }
            }
            (state.grants, state.operatorSince) = grants
            state.grantsReadAt = .now
            state.generation &+= 1
        }
    }

    /// Reads authorizations' terms again when they are older than `authorizationsMaximumAge`.
    func refreshGrantsIfOld(on connection: isolated PostgresConnection) async throws {
        guard state.withLock({ ContinuousClock.now - $0.grantsReadAt >= authorizationsMaximumAge }) else { return }
        let grants = try await connection.grants()
        state.withLock { state in
            (state.grants, state.operatorSince) = grants
            state.grantsReadAt = .now
        }
    }

    // MARK: Candidates

    /// The products sharing a match key with the demand, under an authorization in force at `subject.now`,
    /// not settled for it; nil when the copy is not ready.
    func candidates(for subject: MatchingSubject) -> [(entry: Entry, held: Bool)]? {
        let demand = subject.demand
        let keys = wantedKeys(demand.sector, demand.regions, demand.deliveryModes)
        let settled = Set(subject.settled), proposed = Set(subject.proposed)
        return state.withLock { state -> [(entry: Entry, held: Bool)]? in
            guard state.ready else { return nil }
            var seen: Set<UUID> = []
            var found: [(entry: Entry, held: Bool)] = []
            for key in keys {
                for id in state.byKey[key] ?? [] where seen.insert(id).inserted && !settled.contains(id) {
                    guard var entry = state.entries[id], let grant = state.grants[entry.authorizationID],
                          grant.validity.contains(subject.now) else { continue }
                    entry.product.operatorSince = state.operatorSince[entry.product.operatorID]
                    found.append((entry, proposed.contains(id)))
                }
            }
            return found
        }
    }
}

extension PostgresConnection {
    /// Catalogue rows as the memory holds them: those of `ids`.
    fileprivate func catalogueEntries(_ ids: [UUID]) async throws -> [CatalogueMemory.Entry] {
        try Self.entries(try await query("""
            SELECT c.product_id, c.version, c.operator_id, c.authorization_id, c.match_keys, \(unsafeRaw: Rows.versionColumns("c"))
            FROM catalogue c WHERE c.product_id = ANY(\(ids))
            """))
    }

    /// A page of catalogue rows in product order, after `after`.
    fileprivate func catalogueEntries(after: UUID?, limit: Int) async throws -> [CatalogueMemory.Entry] {
        try Self.entries(try await query("""
            SELECT c.product_id, c.version, c.operator_id, c.authorization_id, c.match_keys, \(unsafeRaw: Rows.versionColumns("c"))
            FROM catalogue c WHERE \(after)::uuid IS NULL OR c.product_id > \(after)::uuid
            ORDER BY c.product_id LIMIT \(Int32(limit))
            """))
    }

    private static func entries(_ rows: PostgresRows) throws -> [CatalogueMemory.Entry] {
        try rows.map { row in
            let (id, version, operatorID, authorizationID, keys) = try row.decode(UUID.self, Int32.self, UUID.self, UUID.self, [String].self, at: 0)
            var product = try Rows.version(row, from: 5, sources: [])
            let text = Matching.Bigrams(product.title + " " + product.description)
            // Matching reads neither once the bigrams are made.
            product.description = ""
            return CatalogueMemory.Entry(product: PricedProduct(id: id, operatorID: operatorID, version: product), version: Int(version),
                                         authorizationID: authorizationID, keys: keys, text: text)
        }
    }

    /// Active authorizations' terms, and when each operator started operating (`operatorSince` for trial
    /// prices: the earliest start of any of its authorizations).
    fileprivate func grants() async throws -> ([UUID: CatalogueMemory.Grant], [UUID: Date]) {
        let rows = try await query("""
            SELECT id, operator_id, state = 'active', lower(validity), upper(validity), lower_inc(validity), upper_inc(validity),
                   greatest(lower(validity), created_at)
            FROM authorizations
            """)
        var grants: [UUID: CatalogueMemory.Grant] = [:], since: [UUID: Date] = [:]
        for row in rows {
            let (id, operatorID, active, lower, upper, lowerInclusive, upperInclusive, start) = try row.decode(
                UUID.self, UUID.self, Bool.self, Date?.self, Date?.self, Bool.self, Bool.self, Date.self)
            since[operatorID] = min(since[operatorID] ?? start, start)
            if active {
                grants[id] = CatalogueMemory.Grant(operatorID: operatorID, validity: .init(
                    lower: lower, upper: upper, lowerInclusive: lowerInclusive, upperInclusive: upperInclusive))
            }
        }
        return (grants, since)
    }
}
