import Foundation
import Market
import Testing

/// Rules 1, 3 and 4 of DOMAIN.md as pure functions (the store tests check them against PostgreSQL).
@Suite struct PolicyTests {
    let agency = UUID(), operatorID = UUID()
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let shanghai = try! RegionCode("310000"), pudong = try! RegionCode("310115"), beijing = try! RegionCode("110000")

    var grant: Authorization {
        Authorization(agencyID: agency, operatorID: operatorID, sectors: ["transport"], regions: [shanghai],
                      scenarios: ["traffic_planning"], mode: .multi, validFrom: now - 86_400, validUntil: now + 86_400 * 365)
    }

    func resource(_ grade: ResourceGrade, sector: String = "transport", region: RegionCode? = nil, personal: Bool = false,
                  deidentified: Bool = false, agency: UUID? = nil) -> DataResource {
        DataResource(agencyID: agency ?? self.agency, title: "traffic flow", sector: sector, regionCode: region ?? shanghai, grade: grade,
                     personalInformation: personal, deidentifiedAt: deidentified ? now : nil)
    }

    func version(_ sources: [DataResource], modes: [DeliveryMode] = [.api], regions: [RegionCode]? = nil,
                 scenarios: [String] = ["traffic_planning"]) -> ProductVersion {
        ProductVersion(title: "路况指数 traffic index", sector: "transport", regions: regions ?? [shanghai], scenarios: scenarios,
                       fields: ["road_id", "speed"], deliveryModes: modes, chargeUnit: .call, listPriceFen: 50,
                       sourceResourceIDs: sources.map(\.id))
    }

    func violation(_ body: () throws -> Void) -> PolicyViolation.Rule? {
        do { try body(); return nil } catch let error as PolicyViolation { return error.rule } catch { return nil }
    }

    @Test func aProductInsideItsAuthorizationPasses() throws {
        let general = resource(.general)
        try Policy.checkScope(of: version([general]), operatorID: operatorID, authorization: grant, sources: [general], at: now)
        try Policy.checkGrading(of: version([general]), sources: [general])
    }

    @Test func scopeRefusesEverythingOutsideTheAuthorization() {
        let general = resource(.general)
        let check = { (version: ProductVersion, authorization: Authorization, sources: [DataResource], operatorID: UUID) in
            self.violation { try Policy.checkScope(of: version, operatorID: operatorID, authorization: authorization, sources: sources, at: self.now) }
        }
        #expect(check(version([general]), grant, [general], UUID()) == .scope)  // another operator's grant
        #expect(check(version([general], regions: [beijing]), grant, [general], operatorID) == .scope)
        #expect(check(version([general], scenarios: ["credit_scoring"]), grant, [general], operatorID) == .scope)
        let elsewhere = resource(.general, region: beijing)
        #expect(check(version([elsewhere]), grant, [elsewhere], operatorID) == .scope)
        let weather = resource(.general, sector: "meteorology")
        #expect(check(version([weather]), grant, [weather], operatorID) == .scope)
        let foreign = resource(.general, agency: UUID())
        #expect(check(version([foreign]), grant, [foreign], operatorID) == .scope)
        #expect(check(version([general]), grant, [], operatorID) == .scope)  // a source that does not exist
        var revoked = grant
        revoked.state = .revoked
        #expect(check(version([general]), revoked, [general], operatorID) == .scope)
        var ended = grant
        ended.validUntil = now - 1
        #expect(check(version([general]), ended, [general], operatorID) == .scope)
    }

    @Test func gradingRefusesCoreImportantOutsideASandboxAndRawPersonalInformation() {
        let core = resource(.core), important = resource(.important)
        #expect(violation { try Policy.checkGrading(of: version([core], modes: [.sandbox]), sources: [core]) } == .coreData)
        #expect(violation { try Policy.checkGrading(of: version([important], modes: [.api]), sources: [important]) } == .importantData)
        #expect(violation { try Policy.checkGrading(of: version([important], modes: [.sandbox, .file]), sources: [important]) } == .importantData)
        #expect(violation { try Policy.checkGrading(of: version([important], modes: [.sandbox]), sources: [important]) } == nil)
        let raw = resource(.general, personal: true), cleaned = resource(.general, personal: true, deidentified: true)
        #expect(violation { try Policy.checkGrading(of: version([raw]), sources: [raw]) } == .personalInformation)
        #expect(violation { try Policy.checkGrading(of: version([cleaned]), sources: [cleaned]) } == nil)
    }

    @Test func anOperatorMayNotBuyInsideItsOwnScopeButOthersMay() throws {
        let product = version([resource(.general)])
        let code = try CreditCode.completing("91310000MA1FL0000")
        let insider = Party(id: operatorID, kind: .operator, name: "insider", creditCode: code, regionCode: shanghai)
        #expect(violation { try Policy.checkAntiMonopoly(buyer: insider, authorizations: [grant], product: product, at: now) } == .antiMonopoly)
        // Another operator, authorized elsewhere, may buy and re-develop it; so may any demander.
        let outsider = Party(kind: .operator, name: "outsider", creditCode: code, regionCode: beijing)
        var elsewhere = grant
        elsewhere.operatorID = outsider.id
        elsewhere.regions = [beijing]
        #expect(violation { try Policy.checkAntiMonopoly(buyer: outsider, authorizations: [elsewhere], product: product, at: now) } == nil)
        let demander = Party(kind: .demander, name: "bank", creditCode: code, regionCode: shanghai)
        #expect(violation { try Policy.checkAntiMonopoly(buyer: demander, authorizations: [], product: product, at: now) } == nil)
        // A demander affiliated with the insider (its subsidiary) buys as the insider would: the caller passes the
        // authorizations of the buyer's affiliated parties, and the refusal names the affiliate.
        if case .failure(let error) = Result(catching: { () throws(PolicyViolation) in
            try Policy.checkAntiMonopoly(buyer: demander, authorizations: [grant], product: product, at: now)
        }) {
            #expect(error.rule == .antiMonopoly && error.message.contains("through the affiliated operator \(operatorID.uuidString.lowercased())"))
        } else {
            Issue.record("a subsidiary of the operator bought inside the operator's scope")
        }
        // Once the insider's authorization has ended, the rule no longer applies to it.
        var ended = grant
        ended.state = .expired
        #expect(violation { try Policy.checkAntiMonopoly(buyer: insider, authorizations: [ended], product: product, at: now) } == nil)
    }

    /// Regions nest (GB/T 2260): a grant for Shanghai covers a product for Pudong, and lists no region
    /// that another of its regions covers.
    @Test func aGrantForAProvinceCoversItsDistrictsAndListsNoRegionTwice() throws {
        let general = resource(.general), pudongData = resource(.general, region: pudong)
        let check = { (version: ProductVersion, sources: [DataResource]) in
            self.violation { try Policy.checkScope(of: version, operatorID: self.operatorID, authorization: self.grant, sources: sources, at: self.now) }
        }
        #expect(check(version([general], regions: [pudong]), [general]) == nil)
        #expect(check(version([pudongData], regions: [pudong]), [pudongData]) == nil, "a district's resource lies within the grant")
        #expect(check(version([general], regions: [beijing, pudong]), [general]) == .scope)
        var nested = grant
        nested.regions = [shanghai, pudong]
        #expect(throws: MarketInputError(field: "regions", rule: "must not list 310115 beside 310000, which covers it")) { try nested.validate() }
        #expect(pudong.lineage == [pudong, try RegionCode("310100"), shanghai])
        #expect(shanghai.covers(pudong) && !pudong.covers(shanghai) && pudong.overlaps(shanghai))
        #expect(!pudong.overlaps(try RegionCode("310101")) && !shanghai.overlaps(beijing))
    }

    @Test func authorizationsLastAtMostFiveYears() throws {
        var five = grant
        five.validUntil = Calendar(identifier: .gregorian).date(byAdding: .year, value: 5, to: five.validFrom)!
        try five.validate()
        five.validUntil += 86_400
        #expect(throws: MarketInputError.self) { try five.validate() }
    }

    @Test func publicInterestPaysNothing() throws {
        let product = version([resource(.general)])
        #expect(try Quote.atListPrice(of: product, quantity: 1_000, purpose: .industryDevelopment).amountFen == 50_000)
        for purpose in [Purpose.publicGovernance, .publicWelfare] {
            let quote = try Quote.atListPrice(of: product, quantity: 1_000, purpose: purpose)
            #expect(quote.amountFen == 0)
            #expect(quote.lines.map(\.step) == ["list_price", "public_interest_free"])
        }
    }
}
