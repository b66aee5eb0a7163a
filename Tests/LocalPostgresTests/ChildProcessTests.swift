import Foundation
import LocalPostgres
import Testing

/// `ChildProcess` stands in for Foundation's `Process` (whose `run()` crashes now and then on Linux, see its
/// documentation): what pdx relies on must hold.
@Suite struct ChildProcessTests {
    private func shell(_ script: String, environment: [String: String]? = nil) -> (ChildProcess, Pipe) {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        return (process, output)
    }

    private func waitForExit(_ process: ChildProcess) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning {
            try #require(ContinuousClock.now < deadline, "the child did not exit")
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func runsAProgramWithItsArgumentsEnvironmentAndOutput() async throws {
        let (process, output) = shell("printf '%s|%s' \"$0\" \"$PDX_PROBE\"; echo ' to stderr' >&2; exit 7", environment: ["PDX_PROBE": "seen"])
        process.arguments += ["first argument"]
        try process.run()
        #expect(process.processIdentifier > 0)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try await waitForExit(process)
        #expect(text == "first argument|seen to stderr\n")
        #expect(process.terminationStatus == 7)
        #expect(!process.endedBySignal)
    }

    @Test func feedsStandardInputFromAPipeAndReadsNothingFromTheNullDevice() async throws {
        let (cat, output) = shell("cat")
        let input = Pipe()
        cat.standardInput = input
        try cat.run()
        try input.fileHandleForWriting.write(contentsOf: Data("fed through a pipe".utf8))
        try input.fileHandleForWriting.close()
        #expect(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "fed through a pipe")
        try await waitForExit(cat)
        #expect(cat.terminationStatus == 0)

        let (empty, nothing) = shell("wc -c")
        empty.standardInput = FileHandle.nullDevice
        try empty.run()
        #expect(String(decoding: nothing.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        try await waitForExit(empty)
    }

    /// A child holds none of this process's descriptors (a server it starts would keep them open, and a pipe
    /// whose writing end a child holds never reaches its end).
    @Test func theChildInheritsOnlyItsStandardStreams() async throws {
        let held = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/status"))
        defer { try? held.close() }
        let (process, output) = shell("ls /proc/$$/fd")
        try process.run()
        let listed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(whereSeparator: \.isNewline).compactMap { Int32($0) }
        try await waitForExit(process)
        #expect(held.fileDescriptor > 2)
        #expect(!listed.contains(held.fileDescriptor), "\(listed)")
        #expect(Set(listed).isSuperset(of: [0, 1, 2]), "\(listed)")
    }

    @Test func terminateEndsTheChildAndSaysWhichSignal() async throws {
        let (process, _) = shell("sleep 30")
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        #expect(process.isRunning)
        process.terminate()
        try await waitForExit(process)
        #expect(process.endedBySignal)
        #expect(process.terminationStatus == SIGTERM)
        // Once reaped, no signal reaches a process that may have taken its id.
        process.terminate()
        #expect(!process.isRunning)
    }

    @Test func waitUntilExitReturnsOnceItHasExited() throws {
        let (process, _) = shell("exit 3")
        try process.run()
        process.waitUntilExit()
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 3)
        process.waitUntilExit()
    }

    @Test func aMissingProgramIsAnErrorThatNamesIt() {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/nonexistent/pdx-no-such-program")
        do {
            try process.run()
            Issue.record("a missing program ran")
        } catch {
            #expect("\(error)".contains("/nonexistent/pdx-no-such-program"), "\(error)")
        }
        #expect(!process.isRunning)
        let unset = ChildProcess()
        #expect(throws: (any Error).self) { try unset.run() }
    }
}
