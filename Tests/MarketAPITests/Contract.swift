import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
@testable import MarketAPI
import Testing

/// The served OpenAPI document, parsed once.
let contract: OpenAPIDocument = {
    do { return try OpenAPIDocument(json: Data(openAPIJSON.utf8)) } catch { fatalError("the OpenAPI document does not parse: \(error)") }
}()

extension TestClientProtocol {
    /// `execute`, and an expectation that the response is what the OpenAPI document says this operation
    /// answers with this status: every test of the API checks the contract on every call.
    func checked(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil,
                 sourceLocation: SourceLocation = #_sourceLocation) async throws -> TestResponse {
        let response = try await execute(uri: uri, method: method, headers: headers, body: body)
        let violations = contract.violations(method: method.rawValue, path: uri, status: Int(response.status.code),
                                             contentType: response.headers[.contentType], body: Data(response.body.readableBytesView))
        #expect(violations.isEmpty, "\(method) \(uri) answered outside the contract: \(violations)", sourceLocation: sourceLocation)
        return response
    }
}
