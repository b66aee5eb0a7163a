public import Foundation
import LocalPostgres

/// The `pdx` executable built with the tests (`swift build` puts it beside the test bundle), or
/// `PDX_EXECUTABLE`.
public func pdxExecutable() throws -> URL {
    var candidates: [URL] = []
    if let path = ProcessInfo.processInfo.environment["PDX_EXECUTABLE"] { candidates.append(URL(fileURLWithPath: path)) }
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var folder = testBinary.deletingLastPathComponent()
    for _ in 0..<4 {
        candidates.append(folder.appendingPathComponent("pdx"))
        folder = folder.deletingLastPathComponent()
    }
    candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug/pdx"))
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) && !$0.hasDirectoryPath }) else {
        throw MissingExecutable(looked: candidates.map(\.path))
    }
    return found
}

public struct MissingExecutable: Error, CustomStringConvertible {
    public var looked: [String]
    public var description: String {
        "the pdx executable was not found (build it with `swift build`, or set PDX_EXECUTABLE); looked at:\n" + looked.joined(separator: "\n")
    }
}

/// Runs a built executable (`pdx` or `pdxctl`) to its end, killing it after a minute so that a command
/// that should have refused its arguments but runs instead cannot hang the suite. Waits without blocking
/// a thread: the suite's pool has two on this machine, and a test blocked in `waitUntilExit` starves the
/// others (the job queue's lease heartbeats among them).
public func runBuilt(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
    let folder = URL(fileURLWithPath: NSTemporaryDirectory())
    let outputFile = folder.appendingPathComponent("pdx-run-\(UUID().uuidString).out")
    let errorFile = folder.appendingPathComponent("pdx-run-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outputFile)
        try? FileManager.default.removeItem(at: errorFile)
    }
    let output = try FileHandle(forWritingTo: outputFile), error = try FileHandle(forWritingTo: errorFile)
    let process = ChildProcess()
    process.executableURL = try pdxExecutable().deletingLastPathComponent().appendingPathComponent(executable)
    process.arguments = arguments
    process.standardOutput = output
    process.standardError = error
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = ContinuousClock.now + .seconds(60)
    while process.isRunning {
        if ContinuousClock.now > deadline { process.terminate() }
        try await Task.sleep(for: .milliseconds(20))
    }
    try output.close()
    try error.close()
    return (process.terminationStatus, (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "",
            (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "")
}
