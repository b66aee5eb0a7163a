// The contract's required nullable fields (`type: [string, 'null']` listed in `required`) are always
// written, as null when empty: a reader may test `next === null`. The generated types encode a nil
// optional by leaving its key out, so the types that have such fields encode themselves here instead.
// A property the contract adds to one of them must be added here too: `RequiredNullsTests` encodes each
// type and compares its keys with the contract's.

extension Components.Schemas.Product {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(state, forKey: .state)
        try container.encode(version, forKey: .version)
        try container.encode(operatorId, forKey: .operatorId)
        try container.encode(authorizationId, forKey: .authorizationId)
        try container.encode(title, forKey: .title)
        try container.encode(description, forKey: .description)
        try container.encode(sector, forKey: .sector)
        try container.encode(regions, forKey: .regions)
        try container.encode(scenarios, forKey: .scenarios)
        try container.encode(tags, forKey: .tags)
        try container.encode(fields, forKey: .fields)
        try container.encode(deliveryModes, forKey: .deliveryModes)
        try container.encode(chargeUnit, forKey: .chargeUnit)
        try container.encode(listPriceFen, forKey: .listPriceFen)
        try container.encode(pendingVersion, forKey: .pendingVersion)
    }
}

extension Components.Schemas.Resource {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(agencyId, forKey: .agencyId)
        try container.encode(title, forKey: .title)
        try container.encode(sector, forKey: .sector)
        try container.encode(regionCode, forKey: .regionCode)
        try container.encode(grade, forKey: .grade)
        try container.encode(personalInformation, forKey: .personalInformation)
        try container.encode(deidentifiedAt, forKey: .deidentifiedAt)
        try container.encodeIfPresent(deidentification, forKey: .deidentification)
    }
}

extension Components.Schemas.Authorization {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(agencyId, forKey: .agencyId)
        try container.encode(operatorId, forKey: .operatorId)
        try container.encode(sectors, forKey: .sectors)
        try container.encode(regions, forKey: .regions)
        try container.encode(scenarios, forKey: .scenarios)
        try container.encode(mode, forKey: .mode)
        try container.encode(validFrom, forKey: .validFrom)
        try container.encode(validUntil, forKey: .validUntil)
        try container.encode(state, forKey: .state)
        try container.encode(stateChangedAt, forKey: .stateChangedAt)
        try container.encode(stateReason, forKey: .stateReason)
        try container.encode(agencySharePermille, forKey: .agencySharePermille)
    }
}

extension Components.Schemas.Webhook {
    /// `url` always (null: no webhook); `secret` only when it was just set or rotated.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(url, forKey: .url)
        try container.encodeIfPresent(secret, forKey: .secret)
    }
}

extension Components.Schemas.WebhookSetting {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(url, forKey: .url)
    }
}

/// A page of a list: its items, and `next` (null on the last page).
protocol Page: Encodable {
    associatedtype Item: Encodable
    var items: [Item] { get }
    var next: String? { get }
}

enum PageKeys: String, CodingKey { case items, next }

extension Page {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: PageKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(next, forKey: .next)
    }
}

extension Components.Schemas.ProductPage: Page {}
extension Components.Schemas.DemandPage: Page {}
extension Components.Schemas.MatchPage: Page {}
extension Components.Schemas.OrderPage: Page {}
extension Components.Schemas.ResourcePage: Page {}
extension Components.Schemas.AuthorizationPage: Page {}

extension Components.Schemas.BoardPage {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(next, forKey: .next)
    }
}
