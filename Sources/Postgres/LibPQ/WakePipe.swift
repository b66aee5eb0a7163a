#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A self-pipe that interrupts a thread blocked in `poll`: written from any thread, read by the owner.
final class WakePipe: Sendable {
    let readFD: Int32
    let writeFD: Int32

    init() throws(PostgresError) {
        // A socket pair rather than pipe(2): it can be made close-on-exec and non-blocking atomically, so no
        // program spawned meanwhile by another thread inherits it.
        var fds: [Int32] = [-1, -1]
        #if os(Linux)
        let type = Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue)
        let created = socketpair(AF_UNIX, type, 0, &fds) == 0
        #else
        let created = socketpair(AF_UNIX, SOCK_STREAM, 0, &fds) == 0
        if created {
            for fd in fds {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
        }
        #endif
        guard created else {
            throw PostgresError(kind: .connectionFailed, message: "could not create a wake-up socket: \(String(cString: strerror(errno)))")
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)  // EAGAIN means a wake-up is already pending.
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readFD, &buffer, buffer.count) > 0 {}
    }
}

/// What a running command answers to: its own number, and the token of the cancellation scope (a pool
/// lease or a transaction) whose task issued it, or 0.
struct CancelTokens {
    var command: UInt64
    var scope: UInt64 = 0
}

/// Carries a task's cancellation to the connection thread: the cancelling thread records which command
/// (or scope) to cancel and wakes the thread, which then sends the cancel request itself.
final class CancelSignal: Sendable {
    let pipe: WakePipe
    private let requested = Atomic<UInt64>(0)

    init(pipe: WakePipe) { self.pipe = pipe }

    func request(_ command: UInt64) {
        requested.store(command, ordering: .releasing)
        pipe.wake()
    }

    func isRequested(_ tokens: CancelTokens) -> Bool {
        let requested = requested.load(ordering: .acquiring)
        return requested == tokens.command || (tokens.scope != 0 && requested == tokens.scope)
    }
}
