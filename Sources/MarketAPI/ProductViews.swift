import Foundation
import Hummingbird
public import Logging
public import MarketStore
public import ServiceLifecycle
import Synchronization

/// Reads of each product's page (`GET /v1/products/{id}` answered 200), counted in memory and added to
/// `product_views` every few seconds (and once more at shutdown) — what an operator's console plots as
/// views. Each API process counts its own reads and adds them, so the sum is right with any number of
/// processes; a process that dies loses at most its last few seconds of counts.
public final class ProductViews: Service, Sendable {
    private let counts = Mutex([UUID: Int]())
    private let store: MarketStore
    private let interval: Duration
    private let logger: Logger

    public init(store: MarketStore, interval: Duration = .seconds(5), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    func count(_ id: UUID) {
        counts.withLock { $0[id, default: 0] += 1 }
    }

    /// Flushes every `interval` until graceful shutdown or cancellation, then once more.
    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            await flush()
        }
    }

    /// Adds what was counted since the last flush (kept for the next one when the database refuses).
    public func flush() async {
        let taken = counts.withLock { counts in
            defer { counts.removeAll(keepingCapacity: true) }
            return counts
        }
        guard !taken.isEmpty else { return }
        do {
            try await store.addProductViews(taken)
        } catch {
            logger.warning("product views not recorded; kept for the next try", metadata: ["error": "\(error)", "products": "\(taken.count)"])
            counts.withLock { counts in counts.merge(taken, uniquingKeysWith: +) }
        }
    }
}

/// Counts a product page read (see `ProductViews`).
struct CountProductViews: RouterMiddleware {
    let views: ProductViews

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        if request.method == .get, response.status == .ok, context.endpointPath == "/v1/products/{id}",
           let last = request.uri.path.split(separator: "/").last, let id = UUID(uuidString: String(last)) {
            views.count(id)
        }
        return response
    }
}
