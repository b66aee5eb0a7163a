import Foundation
public import Hummingbird
import Logging
import Market
import MarketStore
import OpenAPIRuntime
import Postgres

/// An error as the API answers it: `application/problem+json` (RFC 9457) with a stable `code`, and the
/// `field` and `rule` when the input broke one.
public struct Problem: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    /// Stable, machine-readable: one of the contract's enum (`Problem.code` in openapi.yaml), which the
    /// README lists.
    public var code: String
    public var detail: String
    public var field: String?
    public var rule: String?
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, detail: String, field: String? = nil, rule: String? = nil) {
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.rule = rule
    }

    static let unauthorized = Problem(.unauthorized, code: "unauthorized", detail: "send a valid API key as Authorization: Bearer <key>")

    static func forbidden(_ detail: String) -> Problem { Problem(.forbidden, code: "forbidden", detail: detail) }

    /// A key refused for a reason the caller can act on.
    static func refused(_ refusal: KeyRefusal) -> Problem {
        switch refusal {
        case .invalid: unauthorized
        case .expired: Problem(.unauthorized, code: refusal.rawValue,
                               detail: "this API key has expired; rotate keys before they expire (POST /v1/keys/rotate) or ask an administrator for a new one")
        case .partySuspended: Problem(.unauthorized, code: refusal.rawValue,
                                      detail: "the party of this API key is suspended; its keys work again once an administrator reinstates it")
        case .partyClosed: Problem(.unauthorized, code: refusal.rawValue, detail: "the party of this API key is closed; its keys never work again")
        }
    }

    static func unavailable(_ detail: String) -> Problem {
        var problem = Problem(.serviceUnavailable, code: "unavailable", detail: detail)
        problem.headers[.retryAfter] = "5"
        return problem
    }

    struct Body: Encodable {
        var type: String, title: String, status: Int, detail: String, code: String
        var field: String?, rule: String?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = Body(type: "https://pdx.dev/problems/\(code)", title: status.reasonPhrase, status: status.code, detail: detail,
                        code: code, field: field, rule: rule)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var headers = headers
        headers[.contentType] = "application/problem+json"
        if status == .unauthorized { headers[.wwwAuthenticate] = #"Bearer realm="pdx""# }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(body))))
    }

    /// The problem for anything a handler throws.
    static func from(_ error: any Error) -> Problem? {
        switch error {
        case let problem as Problem:
            return problem
        case let error as ServerError:
            // The generated server wraps what decoding, a handler or encoding threw. A query parameter that
            // did not decode is not named by its error: the contract's rules find it.
            if error.operationInput == nil, let explained = ContractRules.explainQuery(operationID: error.operationID, path: error.request.path) {
                return from(explained)
            }
            if let problem = from(error.underlyingError) { return problem }
            // Its own refusals (a parameter that does not decode, a body of another content type, an Accept
            // it cannot satisfy) carry a 4xx status and a description.
            guard error.httpStatus.code < 500 || error.operationInput == nil else { return nil }
            return Problem(.badRequest, code: "invalid_input", detail: error.causeDescription)
        case let error as MarketInputError:
            return Problem(.badRequest, code: "invalid_input", detail: "\(error.field) \(error.rule)", field: error.field, rule: error.rule)
        case let error as PolicyViolation:
            return Problem(.unprocessableContent, code: error.rule.rawValue, detail: error.description, rule: error.rule.rawValue)
        case let error as UnknownValue:
            return Problem(.unprocessableContent, code: "unknown_value", detail: error.description, field: error.field, rule: error.rule)
        case let error as PartyNotActive:
            return Problem(.conflict, code: "party_not_active", detail: error.description)
        case let error as DuplicateCreditCode:
            return Problem(.conflict, code: "duplicate_credit_code", detail: error.description, field: "credit_code")
        case let error as ApplicationNotClaimable:
            return Problem(.conflict, code: error.code, detail: error.description)
        case let error as SandboxRefused:
            return Problem(.conflict, code: error.code, detail: error.description)
        case let error as MarketForbidden:
            return Problem(.forbidden, code: "forbidden", detail: error.description)
        case let error as TransitionRefused:
            return Problem(.conflict, code: "state_conflict", detail: error.description)
        case let error as MarketNotFound:
            return Problem(.notFound, code: "not_found", detail: error.description)
        case let error as DecodingError:
            let (path, what) = Self.describe(error)
            let field = path.isEmpty ? "body" : path
            return Problem(.badRequest, code: "invalid_input", detail: "\(field) \(what)", field: field, rule: what)
        case let error as IdempotencyKeyInUse:
            var problem = Problem(.conflict, code: "idempotency_key_in_use", detail: error.description, field: "Idempotency-Key")
            problem.headers[.retryAfter] = "1"
            return problem
        case is IdempotencyKeyReused:
            return Problem(.unprocessableContent, code: "idempotency_key_reused", detail: "this Idempotency-Key was used with another request",
                           field: "Idempotency-Key")
        case let error as any HTTPResponseError:
            // Hummingbird's own: routing, body limits (NIOTooManyBytesError), parameters.
            switch error.status {
            case .contentTooLarge: return Problem(.contentTooLarge, code: "too_large", detail: "the body is larger than 1 MiB")
            case .notFound: return Problem(.notFound, code: "not_found", detail: "no such resource")
            case .methodNotAllowed: return Problem(.methodNotAllowed, code: "method_not_allowed", detail: "this resource does not take that method")
            default:
                return Problem(error.status, code: error.status.code < 500 ? "invalid_input" : "internal",
                               detail: (error as? HTTPError)?.body ?? error.status.reasonPhrase)
            }
        case let error as PostgresError where error.isConnectionFailure || error.kind == .poolTimeout:
            return unavailable("the database is unreachable")
        default:
            return nil
        }
    }

    static func describe(_ error: DecodingError) -> (String, String) {
        // The API's names are snake_case; the decoder reports the Swift ones.
        func snake(_ name: String) -> String {
            name.reduce(into: "") { text, character in
                if character.isUppercase { text += "_" + character.lowercased() } else { text.append(character) }
            }
        }
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? snake($0.stringValue) }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context): return (path(context.codingPath + [key]), "is required")
        case .typeMismatch(let type, let context): return (path(context.codingPath), "must be \(Self.kind(type))")
        case .valueNotFound(let type, let context): return (path(context.codingPath), "must be \(Self.kind(type)), not null")
        case .dataCorrupted(let context):
            // A string outside an enum: say which values are allowed.
            if let key = context.codingPath.last(where: { $0.intValue == nil }), let allowed = ContractRules.bodyEnums[key.stringValue] {
                return (path(context.codingPath), "must be one of \(allowed.joined(separator: ", "))")
            }
            return (path(context.codingPath), context.codingPath.isEmpty ? "the body is not valid JSON" : context.debugDescription)
        @unknown default: return ("", "the body does not decode")
        }
    }

    static func kind(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "a whole number"
        case is Bool.Type: "true or false"
        case is Double.Type: "a number"
        default: "\(type)".hasPrefix("Array") ? "an array" : "an object"
        }
    }
}

/// Turns what handlers throw into problems; anything unexpected is logged and answered with a 500 that
/// reveals nothing.
struct ProblemMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            // The generated server's wrapper describes the whole request (its decoded input among it): log the cause.
            let cause = (error as? ServerError).map { "\($0.operationID): \($0.underlyingError)" } ?? "\(error)"
            if let problem = Problem.from(error) {
                if problem.status == .serviceUnavailable { context.logger.warning("database unavailable", metadata: ["error": "\(cause)"]) }
                throw problem
            }
            context.logger.error("request failed", metadata: ["error": "\(cause)"])
            throw Problem(.internalServerError, code: "internal", detail: "the server failed; the log has the request id \(context.id)")
        }
    }
}
