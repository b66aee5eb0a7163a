#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A job to enqueue.
public struct NewJob: Sendable {
    public var kind: String
    /// The arguments as a JSON object.
    public var args: String
    public var queue: String
    /// 1 runs first, 4 last.
    public var priority: Int
    public var maxAttempts: Int
    /// When to run it; nil (or a time already past) runs it as soon as a worker is free.
    public var runAt: Date?
    /// A job with the same key that is not finalized yet makes this one a duplicate: enqueueing it
    /// returns the existing job instead.
    public var uniqueKey: String?

    public static let defaultQueue = "default"

    /// A job for the handler registered for `A`.
    public init<A: JobArguments>(
        _ args: A, queue: String = defaultQueue, priority: Int = 1, maxAttempts: Int = 20,
        runAt: Date? = nil, uniqueKey: String? = nil
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(args), as: UTF8.self)
        self.init(kind: A.kind, args: json, queue: queue, priority: priority, maxAttempts: maxAttempts,
                  runAt: runAt, uniqueKey: uniqueKey)
    }

    /// A job from its kind and JSON arguments (for tools that do not know the Swift type).
    public init(kind: String, args: String = "{}", queue: String = defaultQueue, priority: Int = 1,
                maxAttempts: Int = 20, runAt: Date? = nil, uniqueKey: String? = nil) {
        self.kind = kind
        self.args = args
        self.queue = queue
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.runAt = runAt
        self.uniqueKey = uniqueKey
    }

    /// Checks what the table's constraints would refuse, with messages that name the field.
    func validate() throws(JobInputError) {
        guard !kind.isEmpty, kind.utf8.count <= 128 else { throw JobInputError(field: "kind", rule: "must have 1 to 128 bytes") }
        guard !queue.isEmpty, queue.utf8.count <= 128 else { throw JobInputError(field: "queue", rule: "must have 1 to 128 bytes") }
        guard (1...4).contains(priority) else { throw JobInputError(field: "priority", rule: "must be from 1 (first) to 4 (last), got \(priority)") }
        guard (1...1000).contains(maxAttempts) else { throw JobInputError(field: "maxAttempts", rule: "must be from 1 to 1000, got \(maxAttempts)") }
        if let uniqueKey, uniqueKey.isEmpty || uniqueKey.utf8.count > 512 {
            throw JobInputError(field: "uniqueKey", rule: "must have 1 to 512 bytes")
        }
        guard args.first(where: { !$0.isWhitespace }) == "{" else {
            throw JobInputError(field: "args", rule: "must be a JSON object")
        }
    }
}

/// A job that cannot be enqueued as given.
public struct JobInputError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var rule: String
    public var description: String { "job \(field) \(rule)" }
}

/// What enqueueing produced.
public struct EnqueuedJob: Sendable, Hashable {
    public var id: Int64
    /// The job already existed (same unique key, not finalized): `id` is that job's.
    public var duplicate: Bool
}
