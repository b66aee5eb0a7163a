import Foundation
import Market

/// What the contract says about inputs, read from it once: for naming the field and the rule when the
/// generated server refuses a request without saying which (a query parameter that does not decode comes
/// without its name; a string outside an enum comes without the values allowed).
enum ContractRules {
    enum Kind: Equatable { case integer, oneOf([String]), text }

    struct Parameter {
        var name: String
        var required: Bool
        var kind: Kind
    }

    /// The contract read once, on first use (an error's explanation, never a request that succeeds).
    private static let rules = read()

    /// The query parameters of each operation, by operation id.
    static var queryParameters: [String: [Parameter]] { rules.parameters }

    /// The values allowed for each enum property of the request bodies (and of their arrays' items), by name.
    static var bodyEnums: [String: [String]] { rules.enums }

    /// The first query parameter of `operationID` that `path`'s query breaks, with its rule.
    static func explainQuery(operationID: String, path: String?) -> MarketInputError? {
        let items = URLComponents(string: path ?? "")?.queryItems ?? []
        for parameter in queryParameters[operationID] ?? [] {
            guard let value = items.first(where: { $0.name == parameter.name })?.value else {
                if parameter.required { return MarketInputError(field: parameter.name, rule: "is required") }
                continue
            }
            switch parameter.kind {
            case .integer where Int64(value) == nil:
                return MarketInputError(field: parameter.name, rule: "must be a whole number")
            case .oneOf(let allowed) where !allowed.contains(value):
                return MarketInputError(field: parameter.name, rule: "must be one of \(allowed.joined(separator: ", "))")
            default:
                continue
            }
        }
        return nil
    }

    private static func read() -> (parameters: [String: [Parameter]], enums: [String: [String]]) {
        guard let document = try? JSONSerialization.jsonObject(with: Data(openAPIJSON.utf8)) as? [String: Any],
              let paths = document["paths"] as? [String: [String: Any]],
              let components = document["components"] as? [String: Any] else { return ([:], [:]) }
        let shared = components["parameters"] as? [String: [String: Any]] ?? [:]
        func kind(_ schema: [String: Any]?) -> Kind {
            if let values = schema?["enum"] as? [String] { return .oneOf(values) }
            return schema?["type"] as? String == "integer" ? .integer : .text
        }
        var parameters: [String: [Parameter]] = [:]
        for operation in paths.values.flatMap(\.values).compactMap({ $0 as? [String: Any] }) {
            guard let id = operation["operationId"] as? String else { continue }
            parameters[id] = (operation["parameters"] as? [[String: Any]] ?? []).compactMap { parameter in
                let resolved = (parameter["$ref"] as? String).flatMap { shared[String($0.split(separator: "/").last ?? "")] } ?? parameter
                guard resolved["in"] as? String == "query", let name = resolved["name"] as? String else { return nil }
                return Parameter(name: name, required: resolved["required"] as? Bool ?? false, kind: kind(resolved["schema"] as? [String: Any]))
            }
        }
        var enums: [String: [String]] = [:]
        for schema in (components["schemas"] as? [String: [String: Any]] ?? [:]).values {
            let parts = [schema] + (schema["allOf"] as? [[String: Any]] ?? [])
            for case let (name, property as [String: Any]) in parts.flatMap({ ($0["properties"] as? [String: Any] ?? [:]).map { $0 } }) {
                if case .oneOf(let values) = kind(property["items"] as? [String: Any] ?? property) { enums[name] = values }
            }
        }
        return (parameters, enums)
    }
}
