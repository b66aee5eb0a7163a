#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A serial executor that runs every job on one dedicated OS thread.
///
/// Each `PostgresConnection` owns one, so every libpq call for a connection happens on the same thread,
/// and a connection waiting on its socket never occupies a thread of Swift's cooperative pool.
final class ConnectionThread: SerialExecutor, @unchecked Sendable {
    // Allocated once: a pthread mutex or condition must never move in memory.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private var threadID: pthread_t?

    init() throws(PostgresError) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        try startDetachedThread { [self] in loop() }
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        jobs.append(job)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func isSameExclusiveExecutionContext(other: ConnectionThread) -> Bool { self === other }

    func checkIsolated() {
        pthread_mutex_lock(mutex)
        let owner = threadID
        pthread_mutex_unlock(mutex)
        guard let owner, pthread_equal(owner, pthread_self()) != 0 else {
            preconditionFailure("pdx: expected to run on the connection's own thread")
        }
    }

    /// Lets the thread finish the jobs already queued, then exit.
    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    private func loop() {
        pthread_mutex_lock(mutex)
        threadID = pthread_self()
        var batch: [UnownedJob] = []
        while true {
            while jobs.isEmpty && !stopping {
                pthread_cond_wait(condition, mutex)
            }
            if jobs.isEmpty && stopping { break }
            swap(&batch, &jobs)
            pthread_mutex_unlock(mutex)
            for job in batch {
                job.runSynchronously(on: asUnownedSerialExecutor())
            }
            batch.removeAll(keepingCapacity: true)
            pthread_mutex_lock(mutex)
        }
        pthread_mutex_unlock(mutex)
    }
}

/// Runs `body` on a new detached OS thread with an 8 MiB stack.
func startDetachedThread(_ body: @escaping @Sendable () -> Void) throws(PostgresError) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body))
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    pthread_attr_setstacksize(&attributes, 8 << 20)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let created = pthread_create(&thread, &attributes, { argument in
        guard let argument else { return nil }
        Unmanaged<Box>.fromOpaque(argument).takeRetainedValue().body()
        return nil
    }, box.toOpaque())
    pthread_attr_destroy(&attributes)
    if created != 0 {
        box.release()
        throw PostgresError(kind: .connectionFailed, message: "could not start a thread: \(String(cString: strerror(created)))")
    }
}
