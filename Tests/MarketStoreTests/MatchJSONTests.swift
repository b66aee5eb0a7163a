import Foundation
@testable import Market
@testable import MarketStore
import Testing

/// The hand-written JSON of proposals' reasons and quotes says what Foundation's encoder says.
@Suite struct MatchJSONTests {
    @Test func reasonsAndQuotesReadBackAsTheValuesAndAsTheEncodersJSON() throws {
        var random = SplitMix64(seed: 20)
        let pieces = ["fields", "区域 交通", "a \"quoted\" word", "back\\slash", "tab\tnew\nline\r", "\u{01}\u{1F}\u{7F}",
                      "\"\u{301}combining after a quote", "emoji 🚦", "", "/slash/", "é"]
        func text() -> String {
            (0..<Int(random.next() % 4)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined(separator: " ")
        }
        func number() -> Double {
            switch random.next() % 5 {
            case 0: return 0
            case 1: return 1
            case 2: return 1e-7 * Double(random.next() % 100)
            default: return Double(random.next() % 1_000_000_007) / 1_000_000_007
            }
        }
        for _ in 0..<300 {
            let reasons = (0..<Int(random.next() % 7)).map { _ in
                Matching.Reason(component: text(), value: number(), weight: number(), detail: text())
            }
            let quote = Quote(quantity: Int64(random.next() % 100_000), amountFen: Int64(random.next() % 10_000_000_000),
                              lines: (0..<Int(random.next() % 4)).map { _ in
                                  Quote.Line(step: text(), detail: text(), amountFen: Int64(random.next() % 1_000_000)) },
                              rules: (0..<Int(random.next() % 3)).map { _ in
                                  Quote.RuleReference(id: Int64(random.next() % 1000), version: Int(random.next() % 10)) })
            let reasonsText = MatchJSON.reasons(reasons)
            let quoteText = MatchJSON.quote(quote)
            #expect(try JSONDecoder().decode([Matching.Reason].self, from: Data(reasonsText.utf8)) == reasons, "\(reasonsText)")
            #expect(try JSONDecoder().decode(Quote.self, from: Data(quoteText.utf8)) == quote, "\(quoteText)")
            #expect(try parsed(reasonsText) == parsed(try json(reasons)))
            #expect(try parsed(quoteText) == parsed(try json(quote)))
        }
    }

    private func parsed(_ text: String) throws -> NSObject {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? NSObject)
    }
}
