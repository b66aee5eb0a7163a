public import Foundation
public import Market
import Postgres

/// What loading a sandbox dataset did.
public struct SandboxLoad: Sendable, Equatable {
    public var rows: Int
    public var entities: Int
    /// How many times the product's dataset has been loaded, this one included.
    public var generation: Int
}

/// A CSV file's values, parsed and typed by the declared columns (pdx keeps a number per entity, never its identifier).
struct SandboxRows: Sendable {
    enum Values: Sendable {
        case text([String?]), integer([Int64?]), date([CalendarDate?]), number([Double?])

        func value(at row: Int) -> any PostgresEncodable {
            switch self {
            case .text(let values): values[row]
            case .integer(let values): values[row]
            case .date(let values): values[row]
            case .number(let values): values[row]
            }
        }
    }

    /// Declared columns in the file's order.
    var columns: [SandboxColumn] = []
    /// Each row's entity, numbered from 1 in order of first appearance.
    var entity: [Int32] = []
    var entities = 0
    /// The values of each stored column (dimensions and measures), by position in `columns`.
    var stored: [Int: Values] = [:]

    /// Parses RFC 4180 CSV (a header line naming every column, then one row per line; quotes may hold commas,
    /// quotes doubled and line breaks). Every column of the header must be declared, and every declared one
    /// present. Empty values are null, except the entity's, which every row needs.
    init(csv data: Data, declared: [SandboxColumn]) throws {
        var lines = CSVReader(data)
        guard let header = try lines.next() else { throw MarketInputError(field: "file", rule: "is empty: it needs a header line naming the columns") }
        var columns: [SandboxColumn] = []
        for name in header {
            guard let column = declared.first(where: { $0.name == name }) else {
                throw MarketInputError(field: "file", rule: "has a column \(name) that is not declared (declare it hidden if it must never be used)")
            }
            guard !columns.contains(where: { $0.name == name }) else { throw MarketInputError(field: "file", rule: "names column \(name) twice") }
            columns.append(column)
        }
        if let missing = declared.first(where: { column in !header.contains(column.name) }) {
            throw MarketInputError(field: "columns.\(missing.name)", rule: "is declared but the file has no such column (its header: \(header.joined(separator: ",")))")
        }
        try SandboxColumn.check(columns)
        self.columns = columns
        var text: [Int: [String?]] = [:], integers: [Int: [Int64?]] = [:], dates: [Int: [CalendarDate?]] = [:], numbers: [Int: [Double?]] = [:]
        var numbering: [String: Int32] = [:]
        var line = 1
        while let fields = try lines.next() {
            line += 1
            if fields.count == 1, fields[0].isEmpty { continue }  // a blank line
            guard fields.count == columns.count else {
                throw MarketInputError(field: "file", rule: "line \(line) has \(fields.count) values, the header \(columns.count)")
            }
            for (index, column) in columns.enumerated() {
                let raw = fields[index]
                func bad(_ what: String) -> MarketInputError {
                    MarketInputError(field: "file", rule: "line \(line), column \(column.name): '\(raw.prefix(40))' is not \(what)")
                }
                switch (column.role, column.type) {
                case (.hidden, _): continue
                case (.entity, _):
                    guard !raw.isEmpty else { throw MarketInputError(field: "file", rule: "line \(line), column \(column.name): every row needs its entity") }
                    if let number = numbering[raw] {
                        entity.append(number)
                    } else {
                        guard numbering.count < Int32.max - 1 else { throw MarketInputError(field: "file", rule: "has too many entities") }
                        let number = Int32(numbering.count + 1)
                        numbering[raw] = number
                        entity.append(number)
                    }
                case (_, .text):
                    guard raw.utf8.count <= 256 else { throw bad("at most 256 bytes") }
                    text[index, default: []].append(raw.isEmpty ? nil : raw)
                case (_, .integer):
                    if raw.isEmpty { integers[index, default: []].append(nil); continue }
                    guard let number = Int64(raw) else { throw bad("an integer") }
                    integers[index, default: []].append(number)
                case (_, .date):
                    if raw.isEmpty { dates[index, default: []].append(nil); continue }
                    guard let date = CalendarDate(raw) else { throw bad("a date (YYYY-MM-DD)") }
                    dates[index, default: []].append(date)
                case (_, .number):
                    if raw.isEmpty { numbers[index, default: []].append(nil); continue }
                    guard let number = Double(raw), number.isFinite else { throw bad("a number") }
                    numbers[index, default: []].append(number)
                }
            }
        }
        guard !entity.isEmpty else { throw MarketInputError(field: "file", rule: "has no rows after its header") }
        entities = numbering.count
        for (index, values) in text { stored[index] = .text(values) }
        for (index, values) in integers { stored[index] = .integer(values) }
        for (index, values) in dates { stored[index] = .date(values) }
        for (index, values) in numbers { stored[index] = .number(values) }
    }

    var count: Int { entity.count }
}

/// Reads CSV records from bytes.
struct CSVReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ data: Data) {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }  // a byte order mark
        self.bytes = bytes
    }

    /// The next record's fields, nil at the end.
    mutating func next() throws -> [String]? {
        guard offset < bytes.count else { return nil }
        var fields: [String] = [], field: [UInt8] = [], quoted = false, wasQuoted = false
        func endField() throws {
            guard let text = String(validating: field, as: UTF8.self) else {
                throw MarketInputError(field: "file", rule: "is not UTF-8 text")
            }
            fields.append(wasQuoted ? text : text.trimmingCharacters(in: .whitespaces))
            field.removeAll(keepingCapacity: true)
            wasQuoted = false
        }
        while offset < bytes.count {
            let byte = bytes[offset]
            offset += 1
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") {
                        field.append(byte)
                        offset += 1
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\"") where field.isEmpty: quoted = true; wasQuoted = true
            case UInt8(ascii: ","): try endField()
            case UInt8(ascii: "\n"):
                try endField()
                return fields
            case UInt8(ascii: "\r"): continue
            default: field.append(byte)
            }
        }
        guard !quoted else { throw MarketInputError(field: "file", rule: "ends inside a quoted value") }
        try endField()
        return fields
    }
}

extension MarketStore {
    /// The advisory lock key of a product's dataset: a load holds it exclusively while it swaps tables,
    /// an analysis shared while it reads.
    static func sandboxLockKey(_ product: UUID) -> Int64 {
        let bytes = withUnsafeBytes(of: product.uuid) { Array($0) }
        return bytes.prefix(8).reduce(Int64(0x5344_0000_0000_0000)) { ($0 << 8) ^ Int64($1) }
    }

    /// Loads (or reloads) a sandbox product's dataset from CSV with the columns' declared roles: the rows go
    /// into a new table in `pdx_sandbox` by COPY, readable by `pdx_sandbox_reader` alone, and replace the
    /// previous load in one transaction. Entity identifiers are replaced by numbers and hidden columns are
    /// not stored. `progress` hears the rows copied so far and the total.
    public func loadSandboxDataset(product productID: UUID, columns declared: [SandboxColumn], settings: SandboxSettings, csv: Data,
                                   by actor: Actor, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> SandboxLoad {
        let (operatorID, modes, important) = try await read { connection in
            guard let row = try await connection.query("""
                SELECT p.operator_id, v.delivery_modes::text[],
                       EXISTS (SELECT FROM product_version_sources s JOIN data_resources r ON r.id = s.resource_id
                               WHERE s.product_id = p.id AND s.version = p.version AND r.grade = 'important')
                FROM products p JOIN product_versions v ON v.product_id = p.id AND v.version = p.version WHERE p.id = \(productID)
                """).first else { throw MarketNotFound("product", productID) }
            return try row.decode(UUID.self, [String].self, Bool.self)
        }
        guard modes.contains(DeliveryMode.sandbox.rawValue) else {
            throw MarketInputError(field: "product", rule: "delivers by \(modes.joined(separator: ", ")): only a product delivered in a sandbox has a sandbox dataset")
        }
        try settings.check(important: important)
        try SandboxColumn.check(declared)
        let rows = try SandboxRows(csv: csv, declared: declared)
        // Rows in entity order: an entity's rows sit together, so analyses group them cheaply.
        let order = rows.entity.indices.sorted { rows.entity[$0] < rows.entity[$1] }
        let stored = rows.columns.indices.filter { rows.stored[$0] != nil }
        let hex = productID.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let generation = try await transaction { connection in
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(Self.sandboxLockKey(productID)))")
            let previous = try await connection.query("""
                SELECT generation, table_name FROM sandbox_datasets WHERE product_id = \(productID) FOR UPDATE
                """).decode(Int32.self, String.self).first
            let generation = Int(previous?.0 ?? 0) + 1
            let table = "d_\(hex)_\(generation)"
            // Positions are the file's; columns are named c<position>, so no name from outside reaches SQL text.
            let definitions = ["entity integer NOT NULL"] + stored.map { index -> String in
                let type = switch rows.columns[index].type {
                case .text: #"text COLLATE "C""#
                case .integer: "bigint"
                case .date: "date"
                case .number: "double precision"
                }
                return "c\(index + 1) \(type)"
            }
            try await connection.execute("CREATE TABLE pdx_sandbox.\(identifier: table) (\(unsafeRaw: definitions.joined(separator: ", ")))")
            let names = ["entity"] + stored.map { "c\($0 + 1)" }
            let total = rows.count
            try await connection.copyFrom(table: table, schema: "pdx_sandbox", columns: names) { writer in
                for (done, row) in order.enumerated() {
                    try writer.appendRow([rows.entity[row]] + stored.map { rows.stored[$0]?.value(at: row) ?? Optional<String>.none })
                    if (done + 1) % 100_000 == 0 { progress(done + 1, total) }
                }
            }
            progress(total, total)
            let dimensions = stored.filter { rows.columns[$0].role == .dimension }.map { "c\($0 + 1)" }
            let measures = stored.filter { rows.columns[$0].role == .measure }.map { "c\($0 + 1)" }
            try await connection.execute("""
                CREATE INDEX ON pdx_sandbox.\(identifier: table) (\(unsafeRaw: (["entity"] + dimensions).joined(separator: ", ")))\
                \(unsafeRaw: measures.isEmpty ? "" : " INCLUDE (\(measures.joined(separator: ", ")))")
                """)
            try await connection.execute("REVOKE ALL ON pdx_sandbox.\(identifier: table) FROM PUBLIC")
            try await connection.execute("GRANT SELECT ON pdx_sandbox.\(identifier: table) TO pdx_sandbox_reader")
            try await connection.execute("""
                INSERT INTO sandbox_datasets (product_id, operator_id, table_name, generation, min_entities, epsilon_budget, budget_period,
                                              max_groups_per_entity, timeout_ms, row_count, entity_count, loaded_by)
                VALUES (\(productID), \(operatorID), \(table), \(generation), \(settings.minEntities), \(settings.epsilonBudget),
                        \(settings.budgetPeriod.rawValue), \(settings.maxGroupsPerEntity), \(settings.timeoutMilliseconds), \(rows.count),
                        \(rows.entities), \(actor.description))
                ON CONFLICT (product_id) DO UPDATE SET table_name = EXCLUDED.table_name, generation = EXCLUDED.generation,
                    min_entities = EXCLUDED.min_entities, epsilon_budget = EXCLUDED.epsilon_budget, budget_period = EXCLUDED.budget_period,
                    max_groups_per_entity = EXCLUDED.max_groups_per_entity, timeout_ms = EXCLUDED.timeout_ms, row_count = EXCLUDED.row_count,
                    entity_count = EXCLUDED.entity_count, loaded_at = now(), loaded_by = EXCLUDED.loaded_by
                """)
            // Which dimensions hold one value (null counting as one) per entity.
            var stable: [Int: Bool] = [:]
            let dimensionIndexes = stored.filter { rows.columns[$0].role == .dimension }
            if !dimensionIndexes.isEmpty {
                let spans = dimensionIndexes.map { "count(*) FILTER (WHERE n\($0) > 1)" }.joined(separator: ", ")
                let counts = dimensionIndexes.map { "count(DISTINCT c\($0 + 1)) + bool_or(c\($0 + 1) IS NULL)::int AS n\($0)" }.joined(separator: ", ")
                let row = try await connection.query("""
                    SELECT \(unsafeRaw: spans) FROM (SELECT \(unsafeRaw: counts) FROM pdx_sandbox.\(identifier: table) GROUP BY entity) AS e
                    """).first
                for (offset, index) in dimensionIndexes.enumerated() {
                    let spanning: Int64? = try row?.decode(Int64.self, at: offset)
                    stable[index] = spanning == 0
                }
            }
            try await connection.execute("DELETE FROM sandbox_columns WHERE product_id = \(productID)")
            for (index, column) in rows.columns.enumerated() {
                try await connection.execute("""
                    INSERT INTO sandbox_columns (product_id, position, name, role, type, lower, upper, entity_stable)
                    VALUES (\(productID), \(index + 1), \(column.name), \(column.role.rawValue), \(column.type.rawValue), \(column.lower), \(column.upper),
                            \(column.role == .dimension ? stable[index] ?? false : nil))
                    """)
            }
            // Tables of earlier loads, including one a load that died half-way left behind.
            for old in try await connection.query("""
                SELECT tablename FROM pg_tables WHERE schemaname = 'pdx_sandbox' AND tablename LIKE \("d_\(hex)_%") AND tablename <> \(table)
                """).decode(String.self) {
                try await connection.execute("DROP TABLE pdx_sandbox.\(identifier: old)")
            }
            try await connection.execute("ANALYZE pdx_sandbox.\(identifier: table)")
            try await connection.audit(actor, "sandbox_dataset.loaded", "product", productID, after: String(decoding: try JSONEncoder().encode(
                LoadAudit(generation: generation, rows: rows.count, entities: rows.entities, columns: rows.columns, settings: settings)), as: UTF8.self))
            return generation
        }
        // Marks every page all-visible, so analyses read the index alone (VACUUM cannot run in a transaction; inside a caller's
        // one, autovacuum does it later).
        if Self.requestTransaction == nil { _ = try? await pool.query("VACUUM pdx_sandbox.\(identifier: "d_\(hex)_\(generation)")") }
        return SandboxLoad(rows: rows.count, entities: rows.entities, generation: generation)
    }
}

private struct LoadAudit: Encodable {
    var generation: Int
    var rows: Int
    var entities: Int
    var columns: [SandboxColumn]
    var settings: SandboxSettings
}
