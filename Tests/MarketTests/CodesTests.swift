import Foundation
import Market
import Testing

@Suite struct CodesTests {
    @Test func aValidCreditCodeIsAcceptedAndItsCheckCharacterComputed() throws {
        // Published example codes of real enterprises.
        for code in ["91350100M000100Y43", "91110000600037341L", "9144030071526726XG"] {
            #expect(try CreditCode(code).value == code)
        }
        #expect(try CreditCode.completing("91350100M000100Y4").value == "91350100M000100Y43")
    }

    @Test func invalidCreditCodesAreRefusedNamingTheFieldAndTheRule() {
        let cases: [(String, String)] = [
            ("91350100M000100Y4", "must have 18 characters"),
            ("91350100M000100Y44", "check character must be '3'"),
            ("91350100M000100I43", "may hold only"),
            ("91990100M000100Y43", "administrative division code"),
        ]
        for (code, rule) in cases {
            #expect {
                try CreditCode(code)
            } throws: { error in
                let error = try #require(error as? MarketInputError)
                return error.field == "credit_code" && error.rule.contains(rule)
            }
        }
    }

    @Test func regionCodesNeedSixDigitsAndAProvince() throws {
        #expect(try RegionCode("310115").province.value == "310000")
        for bad in ["31011", "3101150", "991000", "31a115", ""] {
            #expect(throws: MarketInputError(field: "region_code", rule: "must be a six-digit administrative division code (GB/T 2260), got '\(bad)'")) {
                try RegionCode(bad)
            }
        }
    }

    @Test func slugsAreShortLowercaseAndDistinct() throws {
        try validateSlugs(["traffic_flow", "gdp.2024", "a-b"], field: "fields")
        #expect(throws: MarketInputError.self) { try validateSlugs([], field: "fields") }
        try validateSlugs([], field: "tags", allowEmpty: true)
        #expect(throws: MarketInputError.self) { try validateSlugs(["Traffic"], field: "fields") }
        #expect(throws: MarketInputError.self) { try validateSlugs(["_x"], field: "fields") }
        #expect(throws: MarketInputError.self) { try validateSlugs(["a", "a"], field: "fields") }
    }
}
