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

    /// A product under one of its keys: its item, and what gathering and bounding a demand's candidates read of
    /// it, packed in one buffer of numbers (shared by all its keys), so that bounding ~1,000 candidates reads
    /// one buffer each instead of an object, its facts and their arrays and strings spread over the heap:
    /// `[grant slot, fields, tags, scenarios, regions, id × 4, field words…, tag words…, scenario words…,
    /// (lower, upper) of each region's codes…]`; a word is a field's, tag's or scenario's number in
    /// `State.words`, the counts are those of the facts' distinct fields and tags, scenarios and regions.
    struct Listed: Sendable {
        let item: Item
        let packed: ContiguousArray<Int32>

        static let header = 9

        init(_ item: Item, number: (String) -> Int32) {
            self.item = item
            let facts = item.facts
            var packed = ContiguousArray<Int32>()
            packed.reserveCapacity(Self.header + facts.fields.count + facts.tags.count + facts.scenarios.count + 2 * facts.spans.count)
            packed += [Int32(item.grantSlot), Int32(facts.fields.count), Int32(facts.tags.count), Int32(facts.scenarios.count), Int32(facts.spans.count)]
            let id = item.product.id.uuid
            for bytes in [(id.0, id.1, id.2, id.3), (id.4, id.5, id.6, id.7), (id.8, id.9, id.10, id.11), (id.12, id.13, id.14, id.15)] {
                packed.append(Int32(bitPattern: UInt32(bytes.0) << 24 | UInt32(bytes.1) << 16 | UInt32(bytes.2) << 8 | UInt32(bytes.3)))
            }
            for word in facts.fields { packed.append(number(word)) }
            for word in facts.tags { packed.append(number(word)) }
            for word in facts.scenarios { packed.append(number(word)) }
            // Region codes are six digits: their spans fit.
            for span in facts.spans { packed += [Int32(span.lowerBound), Int32(span.upperBound)] }
            self.packed = packed
        }
    }

    /// A candidate found for a demand: where it is listed (valid while the copy's generation has not moved),
    /// its product and its bound.
    struct Found: Sendable {
        let key: Int32
        let position: Int32
        let id: UUID
        let bound: Double
        let held: Bool
    }

    private struct State {
        var ready = false
        /// Moves on every change applied (or full load).
        var generation: UInt64 = 0
        var grantsReadAt: ContinuousClock.Instant = .now
        var entries: [UUID: Held] = [:]
        /// The products offered under each key, by the key's number.
        var byKey: [[Listed]] = []
        var keyNumbers: [String: Int32] = [:]
        /// Fields, tags and scenarios of the products held (and of those held since the last load), numbered.
        var words: [String: Int32] = [:]
        /// Active authorizations by slot (nil: not active, or gone).
        var grants: [Grant?] = []
        /// Each authorization's slot, assigned once.
        var slots: [UUID: Int] = [:]
        var operatorSince: [UUID: Date] = [:]
        /// The sizes of `words`, `byKey` and `grants` after the last full load.
        var sizesAtLoad = Sizes(words: 0, keys: 0, slots: 0)

        var sizes: Sizes { Sizes(words: words.count, keys: byKey.count, slots: grants.count) }

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

        mutating func word(_ text: String) -> Int32 {
            if let number = words[text] { return number }
            let number = Int32(words.count)
            words[text] = number
            return number
        }

        /// Holds an entry read: its item placed in its authorization's slot, under each of its keys.
        mutating func hold(_ entry: Entry) {
            let item = Item(product: entry.product, version: entry.version, facts: entry.facts, grantSlot: slot(of: entry.authorizationID))
            let listed = Listed(item) { word($0) }
            let keys = entry.keys.map { number(of: $0) }
            for key in keys { byKey[Int(key)].append(listed) }
            entries[item.product.id] = Held(item: item, keys: keys)
        }

        mutating func drop(_ id: UUID) {
            guard let old = entries.removeValue(forKey: id) else { return }
            for key in old.keys { byKey[Int(key)].removeAll { $0.item === old.item } }
        }
    }

    /// How many words, keys and authorization slots the copy has numbered.
    struct Sizes {
        var words: Int
        var keys: Int
        var slots: Int

        /// Past twice `loaded` and `slack` more, in any of the three.
        func outgrow(_ loaded: Sizes, slack: Int) -> Bool {
            words > 2 * loaded.words + slack || keys > 2 * loaded.keys + slack || slots > 2 * loaded.slots + slack
        }
    }

    private let state = Mutex(State())
    /// How long authorizations' terms are kept without a change announced before they are read again.
    public let authorizationsMaximumAge: Duration
    /// Words, keys and authorization slots keep their numbers until the next full load, also those no product or
    /// authorization held uses any more; once any of them outgrows twice its size at the last load by this many,
    /// the copy loads itself again (staying ready meanwhile), so that a market that keeps inventing tags or keys
    /// does not grow a worker's memory without end.
    public let compactionSlack: Int

    public init(authorizationsMaximumAge: Duration = .seconds(10), compactionSlack: Int = 10_000) {
        self.authorizationsMaximumAge = authorizationsMaximumAge
        self.compactionSlack = max(0, compactionSlack)
    }

    /// The numbered words, keys and slots now (for tests).
    var sizes: Sizes { state.withLock { $0.sizes } }

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
                    } else if !ids.isEmpty, try await refresh(ids, from: pool) {
                        // Outgrown: a full load replaces the copy (ready all along; what changes meanwhile is
                        // announced to the inbox and read again after it).
                        try await load(from: pool)
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
                fresh.sizesAtLoad = fresh.sizes
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
    /// Returns whether the copy's numbering has outgrown its last load (see `compactionSlack`).
    @discardableResult
    public func refresh(_ ids: [UUID], from pool: PostgresPool) async throws -> Bool {
        let (entries, grants) = try await pool.withConnection { connection in
            (try await connection.catalogueEntries(ids), try await connection.grants())
        }
        let found = Dictionary(entries.map { ($0.product.id, $0) }) { first, _ in first }
        return state.withLock { state in
            state.setGrants(grants)
            for id in ids {
                state.drop(id)
                if let entry = found[id] { state.hold(entry) }
            }
            state.generation &+= 1
            return state.sizes.outgrow(state.sizesAtLoad, slack: compactionSlack)
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
    /// not settled for it, each with its bound (`scorer.bound`, counted over the packed words); nil when the
    /// copy is not ready. Reads no product object: `items(_:)` fetches those the caller gets to.
    func candidates(for subject: MatchingSubject, scorer: Matching.Scorer) -> (found: [Found], generation: UInt64, operatorSince: [UUID: Date])? {
        let demand = subject.demand
        let keys = wantedKeys(demand.sector, demand.regions, demand.deliveryModes)
        let settled = Set(subject.settled), proposed = Set(subject.proposed)
        return state.withLock { state -> (found: [Found], generation: UInt64, operatorSince: [UUID: Date])? in
            guard state.ready else { return nil }
            let inForce = state.grants.map { $0?.validity.contains(subject.now) ?? false }
            // The demand's words; one the catalogue has never held matches nothing (it still counts in the demand's).
            let wanted = scorer.wanted.compactMap { state.words[$0] }
            let tags = scorer.tags.compactMap { state.words[$0] }
            let scenario = state.words[scorer.scenario] ?? -1
            // A product offered under two of the demand's keys (two delivery modes) is seen twice.
            var seen: Set<UUID> = []
            var found: [Found] = []
            for key in keys {
                guard let number = state.keyNumbers[key] else { continue }
                // By pointer, so that no item is touched (not even its reference count).
                state.byKey[Int(number)].withUnsafeBufferPointer { listed in
                    for position in listed.indices {
                        listed[position].packed.withUnsafeBufferPointer { packed in
                            guard inForce[Int(packed[0])] else { return }
                            let id = Self.id(packed)
                            if keys.count > 1, !seen.insert(id).inserted { return }
                            if !settled.isEmpty, settled.contains(id) { return }
                            let fields = Int(packed[1]), tagCount = Int(packed[2]), scenarios = Int(packed[3]), regions = Int(packed[4])
                            var index = Listed.header
                            var covered = 0, sharedTags = 0, inScenario = false
                            for word in packed[index..<index + fields] where wanted.contains(word) { covered += 1 }
                            index += fields
                            for word in packed[index..<index + tagCount] where tags.contains(word) { sharedTags += 1 }
                            index += tagCount
                            for word in packed[index..<index + scenarios] where word == scenario { inScenario = true }
                            index += scenarios
                            let (within, broader) = scorer.fits(regions) { (Int(packed[index + 2 * $0]), Int(packed[index + 2 * $0 + 1])) }
                            let bound = scorer.bound(covered: covered, scenario: inScenario, sharedTags: sharedTags, productTags: tagCount,
                                                     regions: regions, within: within, broader: broader)
                            found.append(Found(key: number, position: Int32(position), id: id, bound: bound,
                                               held: !proposed.isEmpty && proposed.contains(id)))
                        }
                    }
                }
            }
            return (found, state.generation, state.operatorSince)
        }
    }

    /// The items of `found`: where they were listed while the copy is at `generation`, else the product as held
    /// now (the copy changed meanwhile: a product no longer held is left out).
    func items(_ found: some Collection<Found>, generation: UInt64) -> [(Item, Found)] {
        state.withLock { state in
            if state.generation == generation {
                return found.map { (state.byKey[Int($0.key)][Int($0.position)].item, $0) }
            }
            return found.compactMap { found in state.entries[found.id].map { ($0.item, found) } }
        }
    }

    private static func id(_ packed: UnsafeBufferPointer<Int32>) -> UUID {
        func bytes(_ index: Int) -> (UInt8, UInt8, UInt8, UInt8) {
            let word = UInt32(bitPattern: packed[5 + index])
            return (UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word))
        }
        let (a, b, c, d) = (bytes(0), bytes(1), bytes(2), bytes(3))
        return UUID(uuid: (a.0, a.1, a.2, a.3, b.0, b.1, b.2, b.3, c.0, c.1, c.2, c.3, d.0, d.1, d.2, d.3))
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
