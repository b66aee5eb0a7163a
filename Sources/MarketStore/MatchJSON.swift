import Market

/// The JSON stored with every proposal (its reasons and its quote), written by hand: Foundation's
/// `JSONEncoder` took about a tenth of a matching worker's time for these two small shapes. The output
/// is what `json(_:)` gives for the same values, as JSON (tested on drawn values); `jsonb` stores either alike.
/// A property added to `Quote` or `Matching.Reason` must be added here too: `MatchJSONTests` decodes this output
/// back into the values and compares them.
enum MatchJSON {
    static func reasons(_ reasons: [Matching.Reason]) -> String {
        var out = "["
        for (index, reason) in reasons.enumerated() {
            if index > 0 { out += "," }
            out += "{\"component\":"
            string(reason.component, into: &out)
            out += ",\"detail\":"
            string(reason.detail, into: &out)
            out += ",\"value\":"
            number(reason.value, into: &out)
            out += ",\"weight\":"
            number(reason.weight, into: &out)
            out += "}"
        }
        return out + "]"
    }

    static func quote(_ quote: Quote) -> String {
        var out = "{\"amountFen\":\(quote.amountFen),\"lines\":["
        for (index, line) in quote.lines.enumerated() {
            if index > 0 { out += "," }
            out += "{\"amountFen\":\(line.amountFen),\"detail\":"
            string(line.detail, into: &out)
            out += ",\"step\":"
            string(line.step, into: &out)
            out += "}"
        }
        out += "],\"quantity\":\(quote.quantity),\"rules\":["
        for (index, rule) in quote.rules.enumerated() {
            if index > 0 { out += "," }
            out += "{\"id\":\(rule.id),\"version\":\(rule.version)}"
        }
        return out + "]}"
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, everything else as is.
    static func string(_ value: String, into out: inout String) {
        out += "\""
        var plain = value.utf8.startIndex
        for index in value.utf8.indices {
            let byte = value.utf8[index]
            guard byte == 0x22 || byte == 0x5C || byte < 0x20 else { continue }
            out += String(decoding: value.utf8[plain..<index], as: UTF8.self)
            switch byte {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            default:
                let hex = String(byte, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
            plain = value.utf8.index(after: index)
        }
        out += plain == value.utf8.startIndex ? value : String(decoding: value.utf8[plain...], as: UTF8.self)
        out += "\""
    }

    /// A finite number as JSON (Swift's shortest round-tripping form); non-finite ones (never a score) as 0.
    static func number(_ value: Double, into out: inout String) {
        guard value.isFinite else { out += "0"; return }
        if value == value.rounded(), abs(value) < 1e15 {
            out += String(Int64(value))
        } else {
            out += "\(value)"
        }
    }
}
