import Foundation
import Synchronization

/// Progress of a long operation on standard output. On a terminal one line is rewritten in place (with
/// the elapsed time) and left as the last state when done; otherwise (a pipe, a log, CI) each update is a
/// plain line, at most one a second for the same task, so logs stay readable.
public final class ProgressLine: Sendable {
    let task: String
    let onTerminal: Bool
    let write: @Sendable (String) -> Void
    private let state: Mutex<(lastPrinted: ContinuousClock.Instant?, open: Bool, started: ContinuousClock.Instant)>

    /// - Parameters:
    ///   - onTerminal: nil asks whether standard output is a terminal.
    ///   - write: where the text goes (standard output).
    public init(_ task: String, onTerminal: Bool? = nil, write: (@Sendable (String) -> Void)? = nil) {
        self.task = task
        self.onTerminal = onTerminal ?? (isatty(STDOUT_FILENO) == 1)
        self.write = write ?? { FileHandle.standardOutput.write(Data($0.utf8)) }
        state = Mutex((nil, false, .now))
    }

    /// The task's state now, e.g. "3,000/10,000 products".
    public func update(_ text: String) {
        let now = ContinuousClock.now
        let line: String? = state.withLock { state in
            if onTerminal {
                state.open = true
                return "\r\u{1B}[K\(task): \(text) (\(Self.seconds(now - state.started)))"
            }
            if let last = state.lastPrinted, now - last < .seconds(1) { return nil }
            state.lastPrinted = now
            return "\(task): \(text)\n"
        }
        if let line { write(line) }
    }

    /// The end of the task, always printed on its own line.
    public func finish(_ text: String) {
        let now = ContinuousClock.now
        let line = state.withLock { state in
            defer { state.open = false }
            return (state.open ? "\r\u{1B}[K" : "") + "\(task): \(text) (\(Self.seconds(now - state.started)))\n"
        }
        write(line)
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.1f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}
