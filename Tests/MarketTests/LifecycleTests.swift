import Market
import Testing

@Suite struct LifecycleTests {
    /// Every (from, to) pair of a life cycle: allowed exactly when listed, refused with the reason otherwise.
    func checkEveryPair<S: LifecycleState>(_ type: S.Type, allowed: [S: Set<S>]) throws {
        for from in S.allCases {
            for to in S.allCases {
                let expected = allowed[from, default: []].contains(to)
                #expect(from.canMove(to: to) == expected, "\(S.subject) \(from) -> \(to)")
                if expected {
                    #expect(try from.moving(to: to) == to)
                } else {
                    #expect {
                        try from.moving(to: to)
                    } throws: { error in
                        let refused = try #require(error as? TransitionRefused)
                        return refused.from == from.rawValue && refused.to == to.rawValue && refused.description.contains("cannot become")
                    }
                }
            }
        }
    }

    @Test func demandLifeCycle() throws {
        try checkEveryPair(DemandState.self, allowed: [
            .draft: [.open, .cancelled],
            .open: [.matched, .ordered, .expired, .cancelled],
            .matched: [.open, .ordered, .expired, .cancelled],
            .ordered: [.fulfilled, .open],
        ])
        #expect(DemandState.fulfilled.isFinal && DemandState.expired.isFinal && DemandState.cancelled.isFinal)
    }

    @Test func productLifeCycle() throws {
        try checkEveryPair(ProductState.self, allowed: [
            .draft: [.listed, .delisted], .listed: [.suspended, .delisted], .suspended: [.listed, .delisted],
        ])
    }

    @Test func matchLifeCycle() throws {
        try checkEveryPair(MatchState.self, allowed: [.proposed: [.accepted, .declined, .withdrawn]])
    }

    @Test func orderLifeCycle() throws {
        try checkEveryPair(OrderState.self, allowed: [
            .placed: [.accepted, .rejected, .cancelled], .accepted: [.delivered, .cancelled], .delivered: [.completed],
        ])
    }

    @Test func authorizationLifeCycle() throws {
        try checkEveryPair(AuthorizationState.self, allowed: [
            .active: [.suspended, .revoked, .expired], .suspended: [.active, .revoked, .expired],
        ])
        #expect(AuthorizationState.suspended.needsReason && AuthorizationState.revoked.needsReason)
        #expect(!AuthorizationState.active.needsReason && !AuthorizationState.expired.needsReason)
    }

    @Test func refusalsSayWhatIsAllowed() {
        #expect(TransitionRefused(subject: "order", from: "placed", to: "completed", allowed: ["accepted", "cancelled", "rejected"]).description
                == "an order that is placed cannot become completed: from placed it may become accepted, cancelled, rejected")
        #expect(DemandState.predecessors(of: .matched) == [.open])
    }
}
