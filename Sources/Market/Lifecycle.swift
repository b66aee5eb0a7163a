/// A state in one of the market's life cycles: which moves it allows, and why it refuses the others.
public protocol LifecycleState: RawRepresentable, CaseIterable, Hashable, Sendable, Codable where RawValue == String {
    /// What the life cycle is of, for messages ("demand", "order").
    static var subject: String { get }
    /// The states this one may move to.
    var successors: Set<Self> { get }
}

extension LifecycleState {
    public var isFinal: Bool { successors.isEmpty }

    public func canMove(to next: Self) -> Bool { successors.contains(next) }

    /// Returns `next` when the move is allowed; otherwise says why not.
    public func moving(to next: Self) throws(TransitionRefused) -> Self {
        guard canMove(to: next) else {
            throw TransitionRefused(subject: Self.subject, from: rawValue, to: next.rawValue,
                                    allowed: successors.map(\.rawValue).sorted())
        }
        return next
    }

    /// The states from which `next` can be reached in one move (what a guarded UPDATE expects).
    public static func predecessors(of next: Self) -> [Self] { allCases.filter { $0.canMove(to: next) } }
}

/// A state change the life cycle does not allow (or that lost a race to another change).
public struct TransitionRefused: Error, Equatable, Sendable, CustomStringConvertible {
    public var subject: String
    public var from: String
    public var to: String
    public var allowed: [String]

    public init(subject: String, from: String, to: String, allowed: [String]) {
        self.subject = subject
        self.from = from
        self.to = to
        self.allowed = allowed
    }

    public var description: String {
        let options = allowed.isEmpty ? "it is final" : "from \(from) it may become \(allowed.joined(separator: ", "))"
        let article = subject.first.map { "aeiou".contains($0) } == true ? "an" : "a"
        return "\(article) \(subject) that is \(from) cannot become \(to): \(options)"
    }
}

/// draft -> open -> matched -> ordered -> fulfilled, and expired or cancelled before it is ordered.
public enum DemandState: String, LifecycleState {
    case draft, open, matched, ordered, fulfilled, expired, cancelled
    public static let subject = "demand"
    public var successors: Set<DemandState> {
        switch self {
        case .draft: [.open, .cancelled]
        case .open: [.matched, .ordered, .expired, .cancelled]
        // A matched demand whose matches were all withdrawn is open again.
        case .matched: [.open, .ordered, .expired, .cancelled]
        case .ordered: [.fulfilled, .open]
        case .fulfilled, .expired, .cancelled: []
        }
    }
}

extension DemandState {
    /// The moves a demander makes: open a draft, cancel before an order. The life cycle's other moves
    /// are the market's own (matched when proposed, open again when every proposal is gone or an order
    /// falls through, ordered, fulfilled, expired) and are refused to a demander like any move it lacks.
    public func movingByDemander(to next: DemandState) throws(TransitionRefused) -> DemandState {
        let allowed: Set<DemandState> = switch self {
        case .draft: [.open, .cancelled]
        case .open, .matched: [.cancelled]
        case .ordered, .fulfilled, .expired, .cancelled: []
        }
        guard allowed.contains(next) else {
            throw TransitionRefused(subject: Self.subject, from: rawValue, to: next.rawValue, allowed: allowed.map(\.rawValue).sorted())
        }
        return next
    }
}

/// draft -> listed <-> suspended, and delisted for good.
public enum ProductState: String, LifecycleState {
    case draft, listed, suspended, delisted
    public static let subject = "product"
    public var successors: Set<ProductState> {
        switch self {
        case .draft: [.listed, .delisted]
        case .listed: [.suspended, .delisted]
        case .suspended: [.listed, .delisted]
        case .delisted: []
        }
    }
}

/// proposed -> accepted (becomes an order) | declined | withdrawn.
public enum MatchState: String, LifecycleState {
    case proposed, accepted, declined, withdrawn
    public static let subject = "match"
    public var successors: Set<MatchState> {
        self == .proposed ? [.accepted, .declined, .withdrawn] : []
    }
}

/// placed -> accepted -> delivered -> completed; rejected by the operator or cancelled by the buyer
/// before delivery.
public enum OrderState: String, LifecycleState {
    case placed, accepted, delivered, completed, rejected, cancelled
    public static let subject = "order"
    public var successors: Set<OrderState> {
        switch self {
        case .placed: [.accepted, .rejected, .cancelled]
        case .accepted: [.delivered, .cancelled]
        case .delivered: [.completed]
        case .completed, .rejected, .cancelled: []
        }
    }
}

/// active <-> suspended, then revoked or expired.
public enum AuthorizationState: String, LifecycleState {
    case active, suspended, revoked, expired
    public static let subject = "authorization"
    public var successors: Set<AuthorizationState> {
        switch self {
        case .active: [.suspended, .revoked, .expired]
        case .suspended: [.active, .revoked, .expired]
        case .revoked, .expired: []
        }
    }

    /// Whether the move needs a stated reason (suspension and revocation do).
    public var needsReason: Bool { self == .suspended || self == .revoked }
}
