/// Prepared statements of one connection, by SQL text and parameter types.
///
/// Statements are never evicted: deallocating one inside a running transaction could fail and abort it.
/// Once `capacity` statements are prepared, further distinct statements run unnamed (parsed each time).
struct StatementCache {
    struct Key: Hashable {
        var sql: String
        var types: [UInt32]
    }

    private struct Entry {
        var types: [UInt32]
        var name: StatementName
    }

    let capacity: Int
    /// By SQL text; the same text with other parameter types is a different statement.
    private var entries: [String: [Entry]] = [:]
    private(set) var count = 0
    private var nextNumber = 0
    /// The statement used last: a loop running one statement finds it without hashing its text.
    private var recent: (sql: String, types: [UInt32], name: StatementName)?

    init(capacity: Int) { self.capacity = max(0, capacity) }

    var isEnabled: Bool { capacity > 0 }
    var hasRoom: Bool { count < capacity }

    /// The prepared statement for this text and these parameters, found without allocating.
    mutating func lookup(_ sql: String, _ bindings: PostgresBindings) -> StatementName? {
        if let recent, recent.sql == sql, bindings.hasTypes(recent.types) { return recent.name }
        guard let entry = entries[sql]?.first(where: { bindings.hasTypes($0.types) }) else { return nil }
        recent = (sql, entry.types, entry.name)
        return entry.name
    }

    func lookup(_ key: Key) -> StatementName? {
        entries[key.sql]?.first { $0.types == key.types }?.name
    }

    /// Reserves a name for a statement about to be prepared.
    mutating func insert(_ key: Key) -> StatementName {
        nextNumber += 1
        let name = StatementName("pdx_\(nextNumber)")
        entries[key.sql, default: []].append(Entry(types: key.types, name: name))
        count += 1
        return name
    }

    mutating func remove(_ key: Key) {
        if let recent, recent.sql == key.sql, recent.types == key.types { self.recent = nil }
        guard var list = entries[key.sql], let index = list.firstIndex(where: { $0.types == key.types }) else { return }
        list.remove(at: index)
        entries[key.sql] = list.isEmpty ? nil : list
        count -= 1
    }

    mutating func removeAll() {
        entries.removeAll()
        recent = nil
        count = 0
    }
}

/// A prepared statement's name, kept as a C string: libpq takes `const char *`, and a short Swift string
/// would be copied into a fresh buffer on every call.
final class StatementName {
    let cString: UnsafeMutablePointer<CChar>

    init(_ name: String) { cString = strdup(name) }

    deinit { free(cString) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
