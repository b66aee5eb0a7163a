/// An exact PostgreSQL `numeric`, kept as its decimal text: no digit is ever lost to a double.
public struct PostgresNumeric: PostgresCodable, PostgresArrayElement, Hashable, CustomStringConvertible {
    public static var postgresType: PostgresType { .numeric }
    public static var postgresArrayType: PostgresType { .numericArray }

    /// Canonical text: optional "-", digits, optional "." and digits; or NaN, Infinity, -Infinity.
    public let description: String

    /// Parses decimal text such as "12", "-0.50", "1.5e3", "NaN"; nil if it is not a number.
    public init?(_ text: String) {
        switch text.lowercased() {
        case "nan": description = "NaN"; return
        case "infinity", "+infinity", "inf": description = "Infinity"; return
        case "-infinity", "-inf": description = "-Infinity"; return
        default: break
        }
        // PostgreSQL's limits: 131072 digits before the decimal point, 16383 after.
        guard let parts = Self.parse(text), parts.integer.count <= 131_072, parts.fraction.count <= 16_383 else { return nil }
        description = parts.text
    }

    init(canonical: String) { description = canonical }

    /// Digits excluding leading zeros of the integer part and trailing zeros of the fraction.
    var significantDigits: Int {
        let digits = description.filter(\.isNumber)
        let trimmed = digits.drop(while: { $0 == "0" })
        return trimmed.reversed().drop(while: { $0 == "0" }).count
    }

    private struct Parts { var negative: Bool; var integer: [UInt8]; var fraction: [UInt8]
        var text: String {
            let int = integer.isEmpty ? "0" : String(decoding: integer.map { $0 + 48 }, as: UTF8.self)
            let frac = fraction.isEmpty ? "" : "." + String(decoding: fraction.map { $0 + 48 }, as: UTF8.self)
            let isZero = integer.allSatisfy { $0 == 0 } && fraction.allSatisfy { $0 == 0 }
            return (negative && !isZero ? "-" : "") + int + frac
        }
    }

    /// Splits text into sign, integer digits (no leading zeros) and fraction digits, applying an exponent.
    private static func parse(_ text: String) -> Parts? {
        var chars = Substring(text)
        var negative = false
        if let first = chars.first, first == "-" || first == "+" { negative = first == "-"; chars = chars.dropFirst() }
        var mantissa = chars
        var exponent = 0
        if let e = chars.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = chars[..<e]
            guard let value = Int(chars[chars.index(after: e)...]), abs(value) <= 100_000 else { return nil }
            exponent = value
        }
        let pieces = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let intText = pieces[0]
        let fracText = pieces.count > 1 ? pieces[1] : ""
        guard !(intText.isEmpty && fracText.isEmpty),
              intText.allSatisfy({ $0.isASCII && $0.isNumber }), fracText.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        var digits = (intText + fracText).utf8.map { $0 - 48 }
        var pointPosition = intText.count + exponent
        if pointPosition < 0 { digits.insert(contentsOf: repeatElement(0, count: -pointPosition), at: 0); pointPosition = 0 }
        if pointPosition > digits.count { digits.append(contentsOf: repeatElement(0, count: pointPosition - digits.count)) }
        var integer = Array(digits[..<pointPosition])
        let fraction = Array(digits[pointPosition...])
        while integer.first == 0 { integer.removeFirst() }
        return Parts(negative: negative, integer: integer, fraction: fraction)
    }

    /// The binary wire form: ndigits, weight, sign, dscale, then base-10000 digits.
    public func encode(into buffer: inout PostgresEncodingBuffer) throws {
        let sign: UInt16
        switch description {
        case "NaN": sign = 0xC000
        case "Infinity": sign = 0xD000
        case "-Infinity": sign = 0xF000
        default: sign = description.hasPrefix("-") ? 0x4000 : 0
        }
        guard sign == 0 || sign == 0x4000, let parts = Self.parse(description) else {
            buffer.writeInteger(Int16(0)); buffer.writeInteger(Int16(0)); buffer.writeInteger(sign); buffer.writeInteger(Int16(0))
            return
        }
        var integer = parts.integer
        var fraction = parts.fraction
        let dscale = fraction.count
        if integer.count % 4 != 0 { integer.insert(contentsOf: repeatElement(0, count: 4 - integer.count % 4), at: 0) }
        if fraction.count % 4 != 0 { fraction.append(contentsOf: repeatElement(0, count: 4 - fraction.count % 4)) }
        func groups(_ digits: [UInt8]) -> [Int16] {
            var result: [Int16] = []
            for start in stride(from: 0, to: digits.count, by: 4) {
                var group: Int16 = 0
                for digit in digits[start..<(start + 4)] { group = group * 10 + Int16(digit) }
                result.append(group)
            }
            return result
        }
        var all = groups(integer) + groups(fraction)
        var weight = integer.count / 4 - 1
        while all.first == 0 { all.removeFirst(); weight -= 1 }
        while all.last == 0 { all.removeLast() }
        if all.isEmpty { weight = 0 }
        guard let count = Int16(exactly: all.count), let weight16 = Int16(exactly: weight), let scale = Int16(exactly: dscale) else {
            throw PostgresError(kind: .encoding, message: "the number has more digits than PostgreSQL's numeric holds")
        }
        buffer.writeInteger(count)
        buffer.writeInteger(weight16)
        buffer.writeInteger(all.isEmpty ? UInt16(0) : sign)
        buffer.writeInteger(scale)
        for digit in all { buffer.writeInteger(digit) }
    }

    public static func decode(from value: PostgresValue) throws -> PostgresNumeric {
        let bytes = try value.nonNullBytes(for: PostgresNumeric.self)
        if value.type.isTextual {
            guard let parsed = PostgresNumeric(String(decoding: bytes, as: UTF8.self)) else {
                throw value.error(decoding: PostgresNumeric.self, "not a number")
            }
            return parsed
        }
        guard value.type == .numeric else { throw value.typeMismatch(PostgresNumeric.self) }
        var reader = ByteReader(bytes)
        guard let count = reader.readInteger(Int16.self), let weight = reader.readInteger(Int16.self),
              let sign = reader.readInteger(UInt16.self), let dscale = reader.readInteger(Int16.self),
              count >= 0, dscale >= 0, reader.remaining == Int(count) * 2
        else { throw value.error(decoding: PostgresNumeric.self, "malformed numeric") }
        switch sign {
        case 0xC000: return PostgresNumeric(canonical: "NaN")
        case 0xD000: return PostgresNumeric(canonical: "Infinity")
        case 0xF000: return PostgresNumeric(canonical: "-Infinity")
        case 0, 0x4000: break
        default: throw value.error(decoding: PostgresNumeric.self, "unknown sign \(sign)")
        }
        var digits: [Int16] = []
        digits.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let digit = reader.readInteger(Int16.self), (0..<10_000).contains(digit) else {
                throw value.error(decoding: PostgresNumeric.self, "malformed numeric digit")
            }
            digits.append(digit)
        }
        func group(_ index: Int) -> Int16 { index >= 0 && index < digits.count ? digits[index] : 0 }
        func padded(_ digit: Int16) -> String {
            let text = String(digit)
            return String(repeating: "0", count: 4 - text.count) + text
        }
        var text = ""
        if weight >= 0 {
            text = String(group(0))
            if weight >= 1 { for index in 1...Int(weight) { text += padded(group(index)) } }
        } else {
            text = "0"
        }
        if dscale > 0 {
            var fraction = ""
            var index = Int(weight) + 1
            while fraction.count < Int(dscale) { fraction += padded(group(index)); index += 1 }
            text += "." + fraction.prefix(Int(dscale))
        }
        let isZero = digits.allSatisfy { $0 == 0 }
        return PostgresNumeric(canonical: (sign == 0x4000 && !isZero ? "-" : "") + text)
    }
}
