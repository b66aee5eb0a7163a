import Foundation
import HTTPTypes
import Hummingbird
@testable import MarketAPI
import PDXClient
import Testing

// `schemas` is read-only once made.
/// The generated types against the contract they come from: a value of each response schema, made from
/// the contract with every optional field empty, encodes every field the contract requires (nullable ones
/// as null): the hand-written encoders of `RequiredNulls.swift` keep up with the contract.
@Suite struct SchemaTests {
    nonisolated(unsafe) static let schemas = (try? JSONSerialization.jsonObject(with: Data(openAPIJSON.utf8)) as? [String: Any])
        .flatMap { $0["components"] as? [String: Any] }.flatMap { $0["schemas"] as? [String: [String: Any]] } ?? [:]

    /// A JSON value the schema accepts, with nulls for nullable fields and no optional field.
    static func sample(_ schema: [String: Any]) -> Any {
        if let reference = schema["$ref"] as? String, let target = schemas[String(reference.split(separator: "/").last ?? "")] {
            return sample(target)
        }
        if let values = schema["enum"] as? [Any] { return values[0] }
        let types = (schema["type"] as? [String]) ?? [(schema["type"] as? String) ?? "object"]
        if types.contains("null") { return NSNull() }
        switch types[0] {
        case "string":
            switch schema["format"] as? String {
            case "uuid": return UUID().uuidString.lowercased()
            case "date-time": return "2027-03-01T00:00:00Z"
            default: return "x"
            }
        case "integer", "number": return 1
        case "boolean": return true
        case "array": return [sample(schema["items"] as? [String: Any] ?? [:])]
        default:
            let properties = schema["properties"] as? [String: [String: Any]] ?? [:]
            let required = schema["required"] as? [String] ?? []
            return Dictionary(uniqueKeysWithValues: required.compactMap { name in properties[name].map { (name, sample($0)) } })
        }
    }

    static func check<T: Codable>(_ type: T.Type, _ name: String) throws {
        let schema = try #require(schemas[name], "\(name) is in the contract")
        let json = try JSONSerialization.data(withJSONObject: sample(schema))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let value = try decoder.decode(T.self, from: json)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let encoded = try #require(try JSONSerialization.jsonObject(with: encoder.encode(value)) as? [String: Any])
        let required = Set(schema["required"] as? [String] ?? [])
        #expect(required.isSubset(of: encoded.keys), "\(name) leaves out \(required.subtracting(encoded.keys).sorted())")
        let nullable = required.filter { ((schema["properties"] as? [String: [String: Any]])?[$0]?["type"] as? [String])?.contains("null") == true }
        for field in nullable { #expect(encoded[field] is NSNull, "\(name).\(field) is written as null") }
    }

    @Test func everyRequiredFieldIsWrittenAndNullableOnesAsNull() throws {
        try Self.check(Components.Schemas.Product.self, "Product")
        try Self.check(Components.Schemas.Demand.self, "Demand")
        try Self.check(Components.Schemas.Match.self, "Match")
        try Self.check(Components.Schemas.Quote.self, "Quote")
        try Self.check(Components.Schemas.Order.self, "Order")
        try Self.check(Components.Schemas.Resource.self, "Resource")
        try Self.check(Components.Schemas.Authorization.self, "Authorization")
        try Self.check(Components.Schemas.Webhook.self, "Webhook")
        try Self.check(Components.Schemas.Problem.self, "Problem")
        try Self.check(Components.Schemas.Status.self, "Status")
        try Self.check(Components.Schemas.WebhookSetting.self, "WebhookSetting")
        try Self.check(Components.Schemas.ProductPage.self, "ProductPage")
        try Self.check(Components.Schemas.DemandPage.self, "DemandPage")
        try Self.check(Components.Schemas.MatchPage.self, "MatchPage")
        try Self.check(Components.Schemas.OrderPage.self, "OrderPage")
        try Self.check(Components.Schemas.ResourcePage.self, "ResourcePage")
        try Self.check(Components.Schemas.AuthorizationPage.self, "AuthorizationPage")
        try Self.check(Components.Schemas.BoardPage.self, "BoardPage")
    }

    /// Every schema with a required nullable field is among those checked above.
    @Test func theCheckedSchemasAreAllThatHaveRequiredNulls() {
        let withRequiredNulls = Self.schemas.filter { _, schema in
            let properties = schema["properties"] as? [String: [String: Any]] ?? [:]
            return (schema["required"] as? [String] ?? []).contains { (properties[$0]?["type"] as? [String])?.contains("null") == true }
        }.keys
        let checked: Set = ["Product", "Resource", "Authorization", "Webhook", "WebhookSetting", "ProductPage", "DemandPage", "MatchPage",
                            "OrderPage", "ResourcePage", "AuthorizationPage", "BoardPage"]
        #expect(Set(withRequiredNulls).isSubset(of: checked), "\(Set(withRequiredNulls).subtracting(checked).sorted()) need an encoder in RequiredNulls.swift")
    }

    /// The operations anyone may call (`security` listing `{}`) are exactly those `Authenticate` lets
    /// through without a key, and RoleTests expects a 401 without a key from all the others.
    @Test func theOperationsWithoutAKeyAreThoseTheContractMakesPublic() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(openAPIJSON.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var publicOperations: Set<String> = []
        for (path, operations) in paths where path.hasPrefix("/v1/") {
            for (method, operation) in operations {
                let security = (operation as? [String: Any])?["security"] as? [[String: Any]]
                if security?.contains(where: \.isEmpty) == true { publicOperations.insert("\(method.uppercased()) \(path)") }
            }
        }
        #expect(publicOperations == ["GET /v1/products", "GET /v1/products/{id}", "GET /v1/sectors", "GET /v1/scenarios",
                                     "POST /v1/applications", "POST /v1/applications/{id}/claim"])
        func isPublic(_ method: HTTPRequest.Method, _ path: String) -> Bool {
            Authenticate.isPublic(Request(head: HTTPRequest(method: method, scheme: nil, authority: nil, path: path), body: .init(buffer: ByteBuffer())))
        }
        for (path, operations) in paths where path.hasPrefix("/v1/") {
            for method in operations.keys {
                let concrete = path.replacingOccurrences(of: "{id}", with: UUID().uuidString).replacingOccurrences(of: "{match}", with: UUID().uuidString)
                let name = "\(method.uppercased()) \(path)"
                #expect(isPublic(HTTPRequest.Method(method.uppercased())!, concrete) == publicOperations.contains(name), "\(name)")
            }
        }
        #expect(isPublic(.get, "/v1/products?q=x&limit=2") && isPublic(.get, "/v1/products/\(UUID())?a=/b/c"), "the query is not part of the path")
        #expect(isPublic(.get, "/v1/products/") && !isPublic(.get, "/v1/productsx") && !isPublic(.get, "/v1/products/x/quote"))
        for endpoint in endpointCases {
            let name = "\(endpoint.method.rawValue) \(endpoint.template.split(separator: "?")[0])"
            let anonymous = endpoint.expected.first { $0.0 == .anonymous }?.1
            if publicOperations.contains(name) {
                #expect(anonymous != .unauthorized, "\(name) is public")
            } else {
                #expect(anonymous == .unauthorized, "\(name) needs a key")
            }
        }
    }
}
