import Foundation

/// Tables, tiles and the formats the pages share.
enum Widgets {
    /// A column: its header and whether it holds numbers (aligned right).
    struct Column {
        var name: String
        var numeric = false

        init(_ name: String, numeric: Bool = false) {
            self.name = name
            self.numeric = numeric
        }
    }

    static func table(_ columns: [Column], _ rows: [[HTML]], empty: String, id: String? = nil) -> HTML {
        guard !rows.isEmpty else { return HTML("<p class=\"muted\">\(empty)</p>") }
        let head = columns.map { HTML("<th\($0.numeric ? HTML(" class=\"num\"") : .empty) scope=\"col\">\($0.name)</th>") }
        let body = rows.map { row in
            HTML("<tr>\(zip(columns, row).map { HTML("<td\($0.numeric ? HTML(" class=\"num\"") : .empty)>\($1)</td>") })</tr>")
        }
        let identity = id.map { HTML(" id=\"\($0)\"") } ?? .empty
        return HTML("<div class=\"table-wrap\"><table\(identity)><thead><tr>\(head)</tr></thead><tbody>\(body)</tbody></table></div>")
    }

    static func tiles(_ tiles: [(name: String, value: String)]) -> HTML {
        HTML("<div class=\"tiles\">\(tiles.map { HTML("<div class=\"tile\"><div class=\"value\">\($0.value)</div><div class=\"name\">\($0.name)</div></div>") })</div>")
    }

    /// 12,345
    static func count<T: BinaryInteger>(_ value: T) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }

    /// Fen as yuan: ¥1,234.56
    static func yuan(_ fen: Int64) -> String {
        let sign = fen < 0 ? "-" : ""
        let magnitude = fen.magnitude
        let cents = magnitude % 100
        return "\(sign)¥\(count(magnitude / 100)).\(cents < 10 ? "0" : "")\(cents)"
    }

    static func yuan(_ fen: Decimal) -> String {
        yuan(Int64(truncating: NSDecimalNumber(decimal: fen)))
    }

    /// 2026-12-07 03:40 UTC
    static func time(_ date: Date?) -> String {
        guard let date else { return "–" }
        return date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false)
            .timeSeparator(.colon)).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "") + " UTC"
    }

    static func day(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day().dateSeparator(.dash))
    }

    static func percent(_ part: Int, of whole: Int) -> String {
        whole == 0 ? "–" : String(format: "%.1f%%", Double(part) * 100 / Double(whole))
    }

    /// 45 s, 12 min, 3.5 h, 2.0 d
    static func duration(_ seconds: Double) -> String {
        switch seconds {
        case ..<60: String(format: "%.0f s", seconds)
        case ..<3_600: String(format: "%.0f min", seconds / 60)
        case ..<86_400: String(format: "%.1f h", seconds / 3_600)
        default: String(format: "%.1f d", seconds / 86_400)
        }
    }

    static func id(_ id: UUID) -> String { id.uuidString.lowercased() }

    /// The first 8 characters of an id, for tables.
    static func short(_ id: UUID) -> String { String(id.uuidString.lowercased().prefix(8)) }
}
