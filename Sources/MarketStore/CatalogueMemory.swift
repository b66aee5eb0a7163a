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
    /// A listed product as matching scores it. A class: handing one to a demand's candidates costs one
    /// reference, not a copy of every string and array in it.
    final class Item: Sendable {
        let product: PricedProduct
        let version: Int
        /// What scoring reads of it (the title and description's bigrams among them), prepared once.
        let facts: Matching.ProductFacts
        /// Its authorization's place in `State.grants` (slots are never reused).
        let grantSlot: Int

        init(product: PricedProduct, version: Int, facts: Matching.ProductFacts, grantSlot: Int = -1) {
            self.product = product
            self.version = version
            self.facts = facts
            self.grantSlot = grantSlot
        }
    }

    /// A catalogue row as read, before it is held.
    struct Entry: Sendable {
        var product: PricedProduct
        var version: Int
        var facts: Matching.ProductFacts
        var authorizationID: UUID
        var keys: [String]
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

    /// A product held: its item and its match keys by number (a key's text is kept once, in `State.keyNumbers`).
    struct Held: Sendable {
        var item: Item
        var keys: [Int32]
    }

    private struct State {
        var ready = false
        /// Moves on every change applied (or full load).
        var generation: UInt64 = 0
        var grantsReadAt: ContinuousClock.Instant = .now
        var entries: [UUID: Held] = [:]
        /// The products offered under each key, by the key's number.
        var byKey: [[Item]] = []
        var keyNumbers: [String: Int32] = [:]
        /// Active authorizations by slot (nil: not active, or gone).
        var grants: [Grant?] = []
        /// Each authorization's slot, assigned once.
        var slots: [UUID: Int] = [:]
        var operatorSince: [UUID: Date] = [:]

        mutating func slot(of authorization: UUID) -> Int {
            if let slot = slots[authorization] { return slot }
            slots[authorization] = grants.count
            grants.append(nil)
            return grants.count - 1
        }

        mutating func setGrants(_ read: ([UUID: Grant], [UUID: Date])) {
            for index in grants.indices { grants[index] = nil }
            for (id, grant) in read.0 { grants[slot(of: id)] = grant }
            operatorSince = read.1
            grantsReadAt = .now
        }

        mutating func number(of key: String) -> Int32 {
            if let number = keyNumbers[key] { return number }
            keyNumbers[key] = Int32(byKey.count)
            byKey.append([])
            return Int32(byKey.count - 1)
        }

        /// Holds an entry read: its item placed in its authorization's slot, under each of its keys.
        mutating func hold(_ entry: Entry) {
            let item = Item(product: entry.product, version: entry.version, facts: entry.facts, grantSlot: slot(of: entry.authorizationID))
            let keys = entry.keys.map { number(of: $0) }
            for key in keys { byKey[Int(key)].append(item) }
            entries[item.product.id] = Held(item: item, keys: keys)
        }

        mutating func drop(_ id: UUID) {
            guard let old = entries.removeValue(forKey: id) else { return }
            for key in old.keys { byKey[Int(key)].removeAll { $0 === old.item } }
        }
    }

    private let state = Mutex(State())
    /// How long authorizations' terms are kept without a change announced before they are read again.
    public let authorizationsMaximumAge: Duration

    public init(authorizationsMaximumAge: Duration = .seconds(10)) {
        self.authorizationsMaximumAge = authorizationsMaximumAge
    }

    /// Loaded (and, while following, listening): its candidates may stand in for the database's.
    public var isReady: Bool { state.withLock { $0.ready } }

    /// Products held now.
    public var count: Int { state.withLock { $0.entries.count } }

    /// Moves on every change applied.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Whether `product` is held at `version` (for tests and the staleness figure).
    public func holds(_ product: UUID, version: Int? = nil) -> Bool {
        state.withLock { state in state.entries[product].map { version == nil || $0.item.version == version } ?? false }
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
        let fresh = try await pool.withConnection { connection in
            try await connection.transaction(isolation: .repeatableRead, readOnly: true) { connection in
                var fresh = State()
                fresh.setGrants(try await connection.grants())
                var after: UUID? = nil
                while true {
                    let entries = try await connection.catalogueEntries(after: after, limit: page)
                    for entry in entries { fresh.hold(entry) }
                    guard entries.count == page, let last = entries.last else { break }
                    after = last.product.id
                }
                return fresh
            }
        }
        state.withLock { state in
            let generation = state.generation
            state = fresh
            state.generation = generation &+ 1
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
            state.setGrants(grants)
            for id in ids {
                state.drop(id)
                if let entry = found[id] { state.hold(entry) }
            }
            state.generation &+= 1
        }
    }

    /// Reads authorizations' terms again when they are older than `authorizationsMaximumAge`.
    func refreshGrantsIfOld(on connection: isolated PostgresConnection) async throws {
        guard state.withLock({ ContinuousClock.now - $0.grantsReadAt >= authorizationsMaximumAge }) else { return }
        let grants = try await connection.grants()
        state.withLock { $0.setGrants(grants) }
    }

    // MARK: Candidates

    /// The products sharing a match key with the demand, under an authorization in force at `subject.now`,
    /// not settled for it; nil when the copy is not ready.
    func candidates(for subject: MatchingSubject) -> (found: [(item: Item, held: Bool)], operatorSince: [UUID: Date])? {
        let demand = subject.demand
        let keys = wantedKeys(demand.sector, demand.regions, demand.deliveryModes)
        let settled = Set(subject.settled), proposed = Set(subject.proposed)
        return state.withLock { state -> (found: [(item: Item, held: Bool)], operatorSince: [UUID: Date])? in
            guard state.ready else { return nil }
            let inForce = state.grants.map { $0?.validity.contains(subject.now) ?? false }
            // A product offered under two of the demand's keys (two delivery modes) is seen twice.
            var seen: Set<ObjectIdentifier> = []
            var found: [(item: Item, held: Bool)] = []
            for key in keys {
                guard let number = state.keyNumbers[key] else { continue }
                for item in state.byKey[Int(number)] where inForce[item.grantSlot] {
                    if keys.count > 1, !seen.insert(ObjectIdentifier(item)).inserted { continue }
                    if !settled.isEmpty, settled.contains(item.product.id) { continue }
                    found.append((item, !proposed.isEmpty && proposed.contains(item.product.id)))
                }
            }
            return (found, state.operatorSince)
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

    /// A page of catalogue rows in product order, after `after` (two statements: with `$1 IS NULL OR` in
    /// one, the generic plan scans the index from its start for every page).
    fileprivate func catalogueEntries(after: UUID?, limit: Int) async throws -> [CatalogueMemory.Entry] {
        guard let after else {
            return try Self.entries(try await query("""
                SELECT c.product_id, c.version, c.operator_id, c.authorization_id, c.match_keys, \(unsafeRaw: Rows.versionColumns("c"))
                FROM catalogue c ORDER BY c.product_id LIMIT \(Int32(limit))
                """))
        }
        return try Self.entries(try await query("""
            SELECT c.product_id, c.version, c.operator_id, c.authorization_id, c.match_keys, \(unsafeRaw: Rows.versionColumns("c"))
            FROM catalogue c WHERE c.product_id > \(after) ORDER BY c.product_id LIMIT \(Int32(limit))
            """))
    }

    private static func entries(_ rows: PostgresRows) throws -> [CatalogueMemory.Entry] {
        try rows.map { row in
            let (id, version, operatorID, authorizationID, keys) = try row.decode(UUID.self, Int32.self, UUID.self, UUID.self, [String].self, at: 0)
            var product = try Rows.version(row, from: 5, sources: [])
            let facts = Matching.ProductFacts(product)
            // Matching reads the description only through its bigrams.
            product.description = ""
            return CatalogueMemory.Entry(product: PricedProduct(id: id, operatorID: operatorID, version: product), version: Int(version), facts: facts,
                                         authorizationID: authorizationID, keys: keys)
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
