import Foundation
import Hummingbird
import Market
import MarketStore

extension MarketAPI {
    /// The public catalogue, and operators' own products through their life cycle.
    static func addProductRoutes(_ v1: RouterGroup<APIContext>, store: MarketStore, cache: CatalogueCache?) {
        // The catalogue is public: no key needed.
        v1.get("products") { request, _ -> Page<ProductBody> in
            let query = try catalogueQuery(request)
            return Page(try await store.searchCatalogue(query).map(ProductBody.init), limit: query.limit, id: \.id)
        }
        v1.get("products/:id") { _, context -> Response in
            let id = try context.id("id")
            func json(_ body: ByteBuffer) -> Response { Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body)) }
            if let cached = cache?.body(of: id) { return json(cached) }
            let generation = cache?.generation()
            if let listed = try await store.listedProduct(id) {
                let body = ByteBuffer(bytes: try context.responseEncoder.encode(ProductBody(listed)))
                if let generation { cache?.store(body, of: id, readAt: generation) }
                return json(body)
            }
            // Not in the catalogue: only its operator sees it (a draft, suspended or delisted).
            guard let party = context.party else { throw MarketNotFound("product", id) }
            let product = try await store.product(id)
            guard product.operatorID == party.id else { throw MarketNotFound("product", id) }
            return json(ByteBuffer(bytes: try context.responseEncoder.encode(ProductBody(product))))
        }
        v1.post("products") { request, context -> Response in
            try await context.post(request, as: NewProductBody.self,
                                   location: { (product: ProductBody) in "/v1/products/\(product.id.uuidString.lowercased())" }) { body, party in
                guard party.kind == .operator else { throw Problem.forbidden("only operators create products") }
                return ProductBody(try await store.createProduct(try body.content.version(), operator: party.id, authorization: body.authorizationId,
                                                                 by: .party(party.id)))
            }
        }
        // A draft is edited in place; a listed or suspended product gets a new version (unless nothing changed).
        // A rise in price is announced (`pending_version`) and takes effect after the notice period.
        v1.put("products/:id") { request, context -> Response in
            try await context.put(request, as: ProductContent.self) { content, party in
                let product = try await context.ownProduct(store)
                let version = try content.version()
                if product.state == .draft {
                    try await store.updateDraft(product.id, with: version, by: .party(party.id))
                } else if version != (product.announced?.version ?? product.current) {
                    try await store.revise(product.id, with: version, by: .party(party.id))
                }
                return ProductBody(try await store.product(product.id))
            }
        }
        for (action, next) in [("list", ProductState.listed), ("suspend", .suspended), ("delist", .delisted)] {
            v1.post("products/:id/\(action)") { request, context -> Response in
                try await context.post(request, as: Reason.self, status: .ok) { body, party in
                    let product = try await context.ownProduct(store)
                    if next == .listed { try await store.list(product.id, by: .party(party.id)) } else {
                        try await store.changeProduct(product.id, to: next, reason: body.reason, by: .party(party.id))
                    }
                    return ProductBody(try await store.product(product.id))
                }
            }
        }
        v1.get("products/:id/quote") { request, context -> JSONBody<Quote> in
            let party = try context.requireParty()
            let id = try context.id("id")
            guard let quantity = request.uri.queryParameters["quantity"].flatMap({ Int64($0) }), (1...Money.maximumQuantity).contains(quantity) else {
                throw MarketInputError(field: "quantity", rule: "must be a whole number from 1 to \(Money.maximumQuantity)")
            }
            guard let purpose = request.uri.queryParameters["purpose"].flatMap({ Purpose(rawValue: String($0)) }) else {
                throw MarketInputError(field: "purpose", rule: "must be one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard try await store.listedProduct(id) != nil else { throw MarketNotFound("product", id) }
            return JSONBody(try await store.quote(product: id, quantity: quantity, purpose: purpose, buyer: party.id,
                                                  scenario: request.uri.queryParameters["scenario"].map(String.init)))
        }
    }

    /// `GET /v1/products?sector=&region=&scenario=&delivery_mode=&min_price_fen=&max_price_fen=&q=&after=&limit=`.
    static func catalogueQuery(_ request: Request) throws -> CatalogueQuery {
        let parameters = request.uri.queryParameters
        func text(_ name: String) -> String? { parameters[name[...]].map(String.init) }
        func fen(_ name: String) throws -> Int64? {
            try text(name).map { value in
                guard let fen = Int64(value), (0...Money.maximumUnitPriceFen).contains(fen) else {
                    throw MarketInputError(field: name, rule: "must be a whole number of fen from 0 to \(Money.maximumUnitPriceFen)")
                }
                return fen
            }
        }
        let (after, limit) = try page(request)
        let query = CatalogueQuery(
            sector: text("sector"),
            region: try text("region").map { code throws(MarketInputError) in try RegionCode(code, field: "region") },
            scenario: text("scenario"),
            deliveryMode: try text("delivery_mode").map { mode in
                guard let known = DeliveryMode(rawValue: mode) else { throw MarketInputError(field: "delivery_mode", rule: "must be api, file or sandbox") }
                return known
            },
            minPriceFen: try fen("min_price_fen"), maxPriceFen: try fen("max_price_fen"), text: text("q"), after: after, limit: limit)
        try query.validate()
        return query
    }
}

extension APIContext {
    /// The product named by the path's `id`, if the caller is its operator. Anyone else gets a 403 for a
    /// listed product (which is public) and a 404 for any other.
    func ownProduct(_ store: MarketStore) async throws -> StoredProduct {
        let party = try requireParty()
        let id = try id("id")
        let product = try await store.product(id)
        guard product.operatorID == party.id else {
            if product.state == .listed { throw Problem.forbidden("only its operator changes a product") }
            throw MarketNotFound("product", id)
        }
        return product
    }
}
