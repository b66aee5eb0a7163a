public import Foundation
import Synchronization

/// A child process, configured and used as Foundation's `Process` is (the properties pdx uses), started
/// with `posix_spawn`.
///
/// Not `Process`: on Linux its `run()` (swift-corelibs-foundation up to Swift 6.3.x) lists /proc/self/fd
/// by copying 256 bytes of each directory entry, reading past the end of glibc's buffer, and now and then
/// crashes the whole process with a bad pointer dereference (swiftlang/swift-corelibs-foundation#5472,
/// fixed after 6.3). The test suite, which starts hundreds of children, crashed so. Here the child closes
/// every descriptor above 2 (listed with FileManager, which reads entries by their length), starts with no
/// blocked signals, and its exit is learnt with `waitpid`.
public final class ChildProcess: @unchecked Sendable {
    /// Set before `run()`, from one task, as with `Process`.
    public var executableURL: URL?
    public var arguments: [String] = []
    /// The child's environment; nil: this process's.
    public var environment: [String: String]?
    /// Each a `FileHandle` (`FileHandle.nullDevice` for /dev/null) or a `Pipe` (the child gets its writing
    /// end for output, its reading end for input; this process's copy of that end is closed once the child
    /// runs). Nil: the child shares this process's.
    public var standardInput: Any?
    public var standardOutput: Any?
    public var standardError: Any?

    private enum State {
        case notStarted
        case running(pid_t)
        case exited(pid_t, status: Int32)
    }
    private let state = Mutex(State.notStarted)

    public init() {}

    /// Starts the program; throws when it cannot be started (not found, not executable).
    public func run() throws {
        guard let executableURL else { throw LocalPostgresError("no program to run: executableURL is not set") }
        let pid = try spawn(executableURL.path, arguments, environment: environment,
                            standardInput: try Self.descriptor(standardInput, reading: true),
                            standardOutput: try Self.descriptor(standardOutput, reading: false),
                            standardError: try Self.descriptor(standardError, reading: false))
        state.withLock { $0 = .running(pid) }
        if let pipe = standardInput as? Pipe { try? pipe.fileHandleForReading.close() }
        for case let pipe as Pipe in [standardOutput, standardError] { try? pipe.fileHandleForWriting.close() }
    }

    /// The child's process id (0 before `run()`).
    public var processIdentifier: Int32 {
        state.withLock {
            switch $0 {
            case .notStarted: 0
            case .running(let pid), .exited(let pid, _): pid
            }
        }
    }

    /// Whether the child has started and not yet exited (reaps it if it has).
    public var isRunning: Bool {
        state.withLock { state in
            guard case .running(let pid) = state else { return false }
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            guard reaped == pid else { return reaped == 0 || errno == EINTR }
            state = .exited(pid, status: status)
            return false
        }
    }

    /// Blocks the calling thread until the child exits (use from a thread of its own, or poll `isRunning`).
    public func waitUntilExit() {
        guard case .running(let pid) = state.withLock({ $0 }) else { return }
        var status: Int32 = 0
        var reaped: pid_t
        repeat { reaped = waitpid(pid, &status, 0) } while reaped < 0 && errno == EINTR
        state.withLock { state in
            if case .running = state, reaped == pid { state = .exited(pid, status: status) }
        }
        // Another caller reaped it first (isRunning, under the lock): it has recorded the status.
    }

    /// The exit code, or the number of the signal that ended the child (as `Process` reports it); 0 before
    /// it has exited.
    public var terminationStatus: Int32 {
        state.withLock {
            guard case .exited(_, let status) = $0 else { return 0 }
            let signal = status & 0x7f
            return signal == 0 ? (status >> 8) & 0xff : signal
        }
    }

    /// Whether the child was ended by a signal.
    public var endedBySignal: Bool {
        state.withLock {
            guard case .exited(_, let status) = $0 else { return false }
            return status & 0x7f != 0
        }
    }

    /// Sends SIGTERM (while it runs).
    public func terminate() { signal(SIGTERM) }

    /// Sends SIGINT (while it runs).
    public func interrupt() { signal(SIGINT) }

    /// Sends `number` to the child while it has not been reaped (never to a recycled process id).
    public func signal(_ number: Int32) {
        state.withLock {
            if case .running(let pid) = $0 { _ = kill(pid, number) }
        }
    }

    private static func descriptor(_ stream: Any?, reading: Bool) throws -> Redirect {
        switch stream {
        case nil: return .inherit
        case let handle as FileHandle: return handle === FileHandle.nullDevice ? .null : .descriptor(handle.fileDescriptor)
        case let pipe as Pipe: return .descriptor(reading ? pipe.fileHandleForReading.fileDescriptor : pipe.fileHandleForWriting.fileDescriptor)
        default: throw LocalPostgresError("a child's standard stream must be a FileHandle or a Pipe, not \(type(of: stream!))")
        }
    }
}

/// Where a child's standard stream goes.
enum Redirect {
    case inherit
    case null
    case descriptor(Int32)
    /// Appended to a file (created if missing).
    case file(String)
}

/// Starts `program` with its standard streams redirected, and every other descriptor of this process
/// closed in the child (so a server it starts holds none of them), with no blocked signals and default
/// handlers.
func spawn(_ program: String, _ arguments: [String], environment: [String: String]? = nil,
           standardInput: Redirect, standardOutput: Redirect, standardError: Redirect) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for (target, redirect) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
        switch redirect {
        case .inherit: break
        case .null: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
        case .descriptor(let descriptor): posix_spawn_file_actions_adddup2(&actions, descriptor, target)
        case .file(let path):
            if target == 2, case .file(let same) = standardOutput, same == path {
                posix_spawn_file_actions_adddup2(&actions, 1, 2)
            } else {
                posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            }
        }
    }
    // After the redirections, which may read some of them. glibc ignores descriptors that closed meanwhile.
    let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
    for descriptor in open where descriptor > 2 {
        posix_spawn_file_actions_addclose(&actions, descriptor)
    }
    var cArguments = ([program] + arguments).map { strdup($0) }
    cArguments.append(nil)
    defer { for pointer in cArguments { free(pointer) } }
    var cEnvironment = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
    defer { for pointer in cEnvironment ?? [] { free(pointer) } }
    // The child starts with no blocked signals and default handlers: threads of Swift's pool block most
    // signals, and a child that inherits that mask never sees SIGALRM (pgbench -T) or SIGTERM.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let result = cEnvironment == nil
        ? posix_spawn(&pid, program, &actions, &attributes, cArguments, environ)
        : cEnvironment!.withUnsafeMutableBufferPointer { posix_spawn(&pid, program, &actions, &attributes, cArguments, $0.baseAddress) }
    guard result == 0 else {
        throw LocalPostgresError("cannot run \(program): \(String(cString: strerror(result)))")
    }
    return pid
}
