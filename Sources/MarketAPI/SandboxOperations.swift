import Foundation
import Market
import MarketStore
import PDXAPITypes

/// The sandbox: datasets' column roles, buyers' analyses and their audit trail.
extension Handlers {
    func getSandboxDataset(_ input: Operations.GetSandboxDataset.Input) async throws -> Operations.GetSandboxDataset.Output {
        let party = try Caller.required()
        let id = try uuid(input.path.id, field: "id")
        guard try await store.sandboxDatasetVisible(id, to: party.id), let dataset = try await store.sandboxDataset(of: id) else {
            throw MarketNotFound("sandbox dataset of product", id)
        }
        // Its size is the operator's and the agency's to know: to buyers it would be one more exact figure about the data.
        let insider = try await store.supervises(party.id, product: id)
        return .ok(.init(body: .json(.init(
            productId: dataset.productID.lowercased, operatorId: dataset.operatorID.lowercased,
            columns: dataset.columns.map { .init(name: $0.name, role: .init(rawValue: $0.role.rawValue) ?? .hidden,
                                                 _type: .init(rawValue: $0.type.rawValue) ?? .text, lower: $0.lower, upper: $0.upper) },
            minEntities: dataset.settings.minEntities, epsilonBudget: dataset.settings.epsilonBudget,
            budgetPeriod: .init(rawValue: dataset.settings.budgetPeriod.rawValue) ?? .month,
            maxGroupsPerEntity: dataset.settings.maxGroupsPerEntity, timeoutMs: dataset.settings.timeoutMilliseconds,
            periodStartsAt: dataset.periodStartsAt, periodEndsAt: dataset.periodEndsAt, epsilonSpent: dataset.epsilonSpent,
            epsilonLeft: dataset.epsilonLeft, rowCount: insider ? dataset.rowCount : nil, entityCount: insider ? dataset.entityCount : nil,
            loadedAt: dataset.loadedAt, generation: dataset.generation))))
    }

    func submitSandboxAnalysis(_ input: Operations.SubmitSandboxAnalysis.Input) async throws -> Operations.SubmitSandboxAnalysis.Output {
        let party = try Caller.required()
        let request = input.body.value
        let product = try uuid(request.productId, field: "product_id")
        let entitlement = try request.entitlementId.map { id throws(MarketInputError) in try uuid(id, field: "entitlement_id") }
        // The request's analysis fields have the spec's JSON shape.
        let spec = try JSONDecoder().decode(SandboxAnalysisSpec.self, from: try JSONEncoder().encode(request))
        let analysis = try await store.submitSandboxAnalysis(product: product, entitlement: entitlement, spec: spec, buyer: party.id)
        return .accepted(.init(body: .json(try .init(analysis, insider: false))))
    }

    func getSandboxAnalysis(_ input: Operations.GetSandboxAnalysis.Input) async throws -> Operations.GetSandboxAnalysis.Output {
        let party = try Caller.required()
        let analysis = try await store.sandboxAnalysis(try uuid(input.path.id, field: "id"), for: party.id)
        return .ok(.init(body: .json(try .init(analysis, insider: analysis.buyerID != party.id))))
    }

    func listSandboxAnalyses(_ input: Operations.ListSandboxAnalyses.Input) async throws -> Operations.ListSandboxAnalyses.Output {
        let party = try Caller.required()
        let product = try input.query.productId.map { id throws(MarketInputError) in try uuid(id, field: "product_id") }
        let limit = input.query.limit ?? 50
        guard (1...200).contains(limit) else { throw MarketInputError(field: "limit", rule: "must be from 1 to 200") }
        let items = try await store.sandboxAnalyses(for: party.id, product: product, before: input.query.before, limit: limit)
        return .ok(.init(body: .json(.init(items: try items.map { try .init($0, insider: $0.buyerID != party.id) }))))
    }
}

extension Components.Schemas.SandboxAnalysis {
    /// `insider`: the dataset's operator or agency, who see how many groups were kept back.
    init(_ analysis: SandboxAnalysis, insider: Bool) throws {
        let encoder = JSONEncoder(), decoder = JSONDecoder()
        self.init(id: analysis.id.lowercased, productId: analysis.productID.lowercased, entitlementId: analysis.entitlementID.lowercased,
                  buyerId: analysis.buyerID.lowercased, state: .init(rawValue: analysis.state.rawValue) ?? .failed,
                  spec: try decoder.decode(Components.Schemas.SandboxSpec.self, from: try encoder.encode(analysis.spec)),
                  epsilon: analysis.epsilon, epsilonRefunded: analysis.epsilonRefunded, failure: analysis.failure,
                  result: try analysis.result.map { try decoder.decode(Components.Schemas.SandboxResult.self, from: try encoder.encode($0)) },
                  groupsSuppressed: insider ? analysis.groupsSuppressed : nil, elapsedMs: analysis.elapsedMilliseconds,
                  createdAt: analysis.createdAt, finishedAt: analysis.finishedAt)
    }
}
