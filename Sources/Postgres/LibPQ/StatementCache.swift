/// Prepared statements of one connection, by SQL text and parameter types.
///
/// Statements are never evicted: deallocating one inside a running transaction could fail and abort it.
/// Once `capacity` statements are prepared, further distinct statements run unnamed (parsed each time).
struct StatementCache {
    struct Key: Hashable {
        var sql: String
        var types: [UInt32]
    }

    let capacity: Int
    private var names: [Key: String] = [:]
    private var nextNumber = 0

    init(capacity: Int) { self.capacity = max(0, capacity) }

    var isEnabled: Bool { capacity > 0 }
    var hasRoom: Bool { names.count < capacity }
    var count: Int { names.count }

    func lookup(_ key: Key) -> String? { names[key] }

    /// Reserves a name for a statement about to be prepared.
    mutating func insert(_ key: Key) -> String {
        nextNumber += 1
        let name = "pdx_\(nextNumber)"
        names[key] = name
        return name
    }

    mutating func remove(_ key: Key) { names[key] = nil }

    mutating func removeAll() { names.removeAll() }
}
