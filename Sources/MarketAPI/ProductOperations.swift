import Foundation
import NIOCore
import Market
import MarketStore
import PDXAPITypes

/// The public catalogue, and operators' own products through their life cycle.
extension Handlers {
    /// The catalogue is public: no key needed. Every filter given must hold.
    func searchProducts(_ input: Operations.SearchProducts.Input) async throws -> Operations.SearchProducts.Output {
        let parameters = input.query
        func fen(_ value: Int64?, _ name: String) throws(MarketInputError) -> Int64? {
            if let value, !(0...Money.maximumUnitPriceFen).contains(value) {
                throw MarketInputError(field: name, rule: "must be a whole number of fen from 0 to \(Money.maximumUnitPriceFen)")
            }
            return value
        }
        let (after, limit) = try page(after: parameters.after, limit: parameters.limit)
        let query = CatalogueQuery(
            sector: parameters.sector, region: try parameters.region.map { code throws(MarketInputError) in try RegionCode(code, field: "region") },
            scenario: parameters.scenario, deliveryMode: try parameters.deliveryMode.map { try converted($0) },
            minPriceFen: try fen(parameters.minPriceFen, "min_price_fen"), maxPriceFen: try fen(parameters.maxPriceFen, "max_price_fen"),
            text: parameters.q, after: after, limit: limit)
        try query.validate()
        let products = try await store.searchCatalogue(query)
        return .ok(.init(body: .json(.init(items: try products.map(Components.Schemas.Product.init), next: next(products, limit: limit, id: \.id)))))
    }

    /// A listed product, to anyone; any other only to its operator. (With a catalogue cache, a listed
    /// product it holds is answered before this, by `CachedCatalogueReads`.)
    func getProduct(_ input: Operations.GetProduct.Input) async throws -> Operations.GetProduct.Output {
        let id = try uuid(input.path.id, field: "id")
        let cache = configuration.catalogueCache
        let generation = cache?.generation()
        if let listed = try await store.listedProduct(id) {
            let product = try Components.Schemas.Product(listed)
            // Kept encoded, as the generated server encodes it: the next read is answered from memory.
            if let generation { cache?.store(ByteBuffer(bytes: try MarketAPI.encoder.encode(product)), of: id, readAt: generation) }
            return .ok(.init(body: .json(product)))
        }
        // Not in the catalogue: only its operator sees it (a draft, suspended or delisted).
        guard let party = Caller.party else { throw MarketNotFound("product", id) }
        let product = try await store.product(id)
        guard product.operatorID == party.id else { throw MarketNotFound("product", id) }
        return .ok(.init(body: .json(try .init(product))))
    }

    /// An operator's product under one of its authorizations (`authorization_id`, `source_resource_ids`), or a
    /// registered re-developer's derived product (`source_order_ids`): exactly one of the two.
    func createProduct(_ input: Operations.CreateProduct.Input) async throws -> Operations.CreateProduct.Output {
        let party = try Caller.required()
        let body = input.body.value
        let product: StoredProduct
        switch (body.value2.authorizationId, body.value2.sourceOrderIds) {
        case (let authorization?, nil):
            guard party.kind == .operator else { throw Problem.forbidden("only operators create products under an authorization") }
            product = try await store.createProduct(try body.value1.version(), operator: party.id,
                                                    authorization: try uuid(authorization, field: "authorization_id"), by: .party(party.id))
        case (nil, let orders?):
            guard party.kind == .operator || party.kind == .demander else { throw Problem.forbidden("only demanders and operators re-develop products") }
            guard body.value1.sourceResourceIds == nil else {
                throw MarketInputError(field: "source_resource_ids", rule: "must be absent for a derived product: it carries its sources' resources")
            }
            let sources = try orders.enumerated().map { index, text throws(MarketInputError) in try uuid(text, field: "source_order_ids[\(index)]") }
            product = try await store.createDerivedProduct(try body.value1.version(), seller: party.id, sourceOrders: sources, by: .party(party.id))
        default:
            throw MarketInputError(field: "authorization_id", rule: "or source_order_ids must be given, not both")
        }
        return .created(.init(headers: .init(location: "/v1/products/\(product.id.lowercased)"), body: .json(try .init(product))))
    }

    /// A draft is edited in place; a listed or suspended product gets a new version (unless nothing changed).
    /// A rise in price is announced (`pending_version`) and takes effect after the notice period.
    func updateProduct(_ input: Operations.UpdateProduct.Input) async throws -> Operations.UpdateProduct.Output {
        let (product, party) = try await ownProduct(input.path.id)
        var version = try input.body.value.version()
        // A derived product carries its sources' resources, whatever the body says.
        if product.derived { version.sourceResourceIDs = product.current.sourceResourceIDs }
        if product.state == .draft {
            try await store.updateDraft(product.id, with: version, by: .party(party.id))
        } else if version != (product.announced?.version ?? product.current) {
            try await store.revise(product.id, with: version, by: .party(party.id))
        }
        return .ok(.init(body: .json(try .init(try await store.product(product.id)))))
    }

    func listProduct(_ input: Operations.ListProduct.Input) async throws -> Operations.ListProduct.Output {
        .ok(.init(body: .json(try await moveProduct(input.path.id, to: .listed, reason: nil))))
    }

    func suspendProduct(_ input: Operations.SuspendProduct.Input) async throws -> Operations.SuspendProduct.Output {
        .ok(.init(body: .json(try await moveProduct(input.path.id, to: .suspended, reason: input.body.reason))))
    }

    func delistProduct(_ input: Operations.DelistProduct.Input) async throws -> Operations.DelistProduct.Output {
        .ok(.init(body: .json(try await moveProduct(input.path.id, to: .delisted, reason: input.body.reason))))
    }

    func quoteProduct(_ input: Operations.QuoteProduct.Input) async throws -> Operations.QuoteProduct.Output {
        let party = try Caller.required()
        let id = try uuid(input.path.id, field: "id")
        let quantity = input.query.quantity
        guard (1...Money.maximumQuantity).contains(quantity) else {
            throw MarketInputError(field: "quantity", rule: "must be a whole number from 1 to \(Money.maximumQuantity)")
        }
        guard try await store.listedProduct(id) != nil else { throw MarketNotFound("product", id) }
        let quote = try await store.quote(product: id, quantity: quantity, purpose: try converted(input.query.purpose), buyer: party.id,
                                          scenario: input.query.scenario)
        return .ok(.init(body: .json(.init(quote))))
    }

    /// The product named `id`, if the caller is its operator. Anyone else gets a 403 for a listed product
    /// (which is public) and a 404 for any other.
    private func ownProduct(_ text: String) async throws -> (StoredProduct, Party) {
        let party = try Caller.required()
        let id = try uuid(text, field: "id")
        let product = try await store.product(id)
        guard product.operatorID == party.id else {
            if product.state == .listed { throw Problem.forbidden("only its operator changes a product") }
            throw MarketNotFound("product", id)
        }
        return (product, party)
    }

    private func moveProduct(_ id: String, to next: ProductState, reason: String?) async throws -> Components.Schemas.Product {
        let (product, party) = try await ownProduct(id)
        if next == .listed { try await store.list(product.id, by: .party(party.id)) } else {
            try await store.changeProduct(product.id, to: next, reason: reason, by: .party(party.id))
        }
        return try .init(try await store.product(product.id))
    }
}
